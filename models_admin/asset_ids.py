"""The one rule for asset ids, shared by the validator, URLs, API paths and bodies, and forms.

A slug of lowercase letters, digits, ``.``, ``-`` and ``_``, starting with a letter or digit,
at most 100 characters: ``llama3.2-3b``. Anchored with ``\\A``/``\\Z`` (``$`` would also match
before a final newline, letting ``"abc\\n"`` through).
"""

from __future__ import annotations

import re

ASSET_ID_MAX = 100
# The bare pattern: Django URL converters anchor it themselves.
ASSET_ID_PATTERN = r"[a-z0-9][a-z0-9._-]{0,99}"
ASSET_ID_RE = re.compile(rf"\A{ASSET_ID_PATTERN}\Z")
# For pydantic fields and OpenAPI (Rust and ECMAScript regex: ``$`` is the very end there).
ASSET_ID_SCHEMA_PATTERN = rf"^{ASSET_ID_PATTERN}$"
ASSET_ID_RULE = (
    "must be a slug: lowercase letters, digits, '.', '-' or '_', starting with a letter "
    "or digit, at most 100 characters"
)


def is_asset_id(value: object) -> bool:
    return isinstance(value, str) and ASSET_ID_RE.match(value) is not None
