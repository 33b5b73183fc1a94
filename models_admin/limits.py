"""Bounds on what a caller may send: body size, document size, nesting depth.

Every input path (API bodies, the gateway, YAML in the UI, the API and ``import_assets``)
checks against these before spending real work, so a small hostile input cannot cost the
server much CPU or memory, and deep nesting never reaches a recursive parser or encoder.
The numbers are settings (``HUB_MAX_*``, see ``hub/settings.py``); the helpers here take
them as arguments or read them when called, so tests can override them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings


def max_body_bytes() -> int:
    """The largest request body the web app (UI and API) reads."""
    return int(settings.HUB_MAX_BODY_BYTES)


def max_document_bytes() -> int:
    """The largest asset document, serialized as JSON."""
    return int(settings.HUB_MAX_DOCUMENT_BYTES)


def max_document_depth() -> int:
    """The deepest nesting of an asset document (the document itself is level 1)."""
    return int(settings.HUB_MAX_DOCUMENT_DEPTH)


def too_deep(value: Any, limit: int) -> str | None:
    """The top-level key under which ``value`` nests deeper than ``limit`` levels, else None.

    Iterative, so any depth is safe to inspect; a mapping or a list is one level. For a
    value nested too deeply that is not under a mapping key, the answer is ``""``.
    """
    if not isinstance(value, dict | list):
        return None
    roots = value.items() if isinstance(value, dict) else ((None, item) for item in value)
    for key, child in roots:
        stack: list[tuple[Any, int]] = [(child, 2)]
        while stack:
            node, depth = stack.pop()
            if not isinstance(node, dict | list):
                continue
            if depth > limit:
                return "" if key is None else str(key)
            children = node.values() if isinstance(node, dict) else node
            stack.extend((item, depth + 1) for item in children if isinstance(item, dict | list))
    return None


def serialized_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON (YAML dates and the like as strings)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())


def document_problem(doc: Any) -> tuple[str, str] | None:
    """``(field, message)`` if an asset document is nested too deeply or too large, else None.

    Depth is checked first: serializing a deeply nested value would itself recurse.
    """
    depth = max_document_depth()
    key = too_deep(doc, depth)
    if key is not None:
        return key, f"nested more than {depth} levels deep"
    limit = max_document_bytes()
    if serialized_size(doc) > limit:
        return "", f"the document is larger than {limit} bytes"
    nul = nul_at(doc)
    if nul is not None:
        return nul, "must not contain NUL characters"
    return None


def nul_at(value: Any, path: str = "") -> str | None:
    """Where ``value`` holds a NUL character (PostgreSQL cannot store one in text or JSON), else None.

    The path names the field as the validator does: ``metadata.notes``, ``runtime.launch.command[1]``.
    """
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            found = path if isinstance(key, str) and "\x00" in key else nul_at(item, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = nul_at(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_too_deep(raw: bytes, limit: int) -> bool:
    """Whether the JSON text ``raw`` nests arrays/objects deeper than ``limit`` levels.

    Cheap and parser-free (C-speed passes over the bytes): strings are dropped, every
    other byte but brackets is dropped, then innermost pairs are removed ``limit`` times;
    anything left was deeper, and so is a run of brackets left open deeper than that. Meant
    to run before ``json.loads``, whose C decoder would raise ``RecursionError`` on deep
    input. Other malformed JSON may answer either way: the parser that runs next reports it.
    """
    skeleton = _JSON_STRING.sub(b"", raw).translate(_BRACKETS, _NOT_BRACKETS)
    for removed in range(limit):
        if not skeleton:
            return False
        shorter = skeleton.replace(b"[]", b"")
        if len(shorter) == len(skeleton):
            # Unbalanced, so not JSON, but a parser recurses into the brackets never closed
            # (now all at the end, each inside the one before) before it says so.
            return skeleton.count(b"[") + removed > limit
        skeleton = shorter
    return bool(skeleton)
