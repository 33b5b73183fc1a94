"""JSON on the hot path without a parse-and-dump round trip.

:class:`RequestBody` parses a request once and remembers where its top-level ``model`` value
sits, so forwarding splices the runtime's model name into the client's own bytes;
:func:`usage_of` reads ``usage`` off the end of an answer; :func:`with_model` and
:func:`answer_model` put the asset id in an answer's (or an SSE event's) ``model``.
"""

from __future__ import annotations

import contextlib
import json
import re
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any, Protocol

from models_admin.limits import json_too_deep
from runtimes.gateway.errors import BadRequest

_DECODER = json.JSONDecoder()
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_STREAM_OPTIONS = ',"stream_options":{"include_usage":true}'


def _ws(text: str, idx: int = 0) -> int:
    """The index of the first non-whitespace character at or after ``idx``."""
    match = _WHITESPACE.match(text, idx)
    assert match is not None  # the pattern matches the empty string anywhere
    return match.end()


class Body(Protocol):
    """A parsed request body: its fields, and its bytes for the runtime (``model`` swapped)."""

    data: dict[str, Any]
    content_type: str

    def forward(self, model: str, *, stream_options: bool = False) -> bytes: ...


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        request = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the request body is not valid JSON") from None
    except RecursionError:  # json_too_deep runs first; this is its backstop
        raise BadRequest("the request body is nested too deeply") from None
    if not isinstance(request, dict):
        raise BadRequest("the request body must be a JSON object")
    return request


class RequestBody:
    """A request body parsed once, remembering where its top-level ``model`` value sits.

    Forwarding swaps the model name (and may add ``stream_options``) by splicing the
    client's own bytes rather than serializing the parsed object again: a long chat
    history costs one parse on the way through, not a parse and a dump.
    """

    __slots__ = ("_raw", "_span", "_text", "content_type", "data")

    def __init__(self, data: dict[str, Any], raw: bytes, text: str, span: tuple[int, int] | None) -> None:
        self.data = data
        self.content_type = "application/json"
        self._raw = raw
        self._text = text
        self._span = span

    @classmethod
    def parse(cls, raw: bytes, *, max_depth: int) -> RequestBody:
        """Parse ``raw``; :class:`BadRequest` if it is not a JSON object or nests too deeply.

        The depth is checked before parsing: the json module's C decoder recurses, and
        would raise ``RecursionError`` on a body nested some thousand levels deep.
        """
        if json_too_deep(raw, max_depth):
            raise BadRequest(f"the request body is nested more than {max_depth} levels deep")
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            text = ""
        start = _ws(text)
        if not text.startswith("{", start):  # not UTF-8, or not an object: json.loads judges
            return cls(parse_json(raw), raw, "", None)
        try:
            data, span = _scan_object(text, start)
        except ValueError:
            raise BadRequest("the request body is not valid JSON") from None
        except RecursionError:
            raise BadRequest("the request body is nested too deeply") from None
        return cls(data, raw, text, span)

    def forward(self, model: str, *, stream_options: bool = False) -> bytes:
        """The body for the runtime: ``model`` set to its name there; usage asked for if told."""
        if self._span is None:  # no (or a repeated) "model" key: serialize afresh
            data = {**self.data, "model": model}
            if stream_options:
                data["stream_options"] = {"include_usage": True}
            return json.dumps(data).encode()
        start, end = self._span
        if len(self._text) == len(self._raw):  # ASCII: text offsets are byte offsets
            out = self._raw[:start] + json.dumps(model).encode() + self._raw[end:]
        else:
            out = (self._text[:start] + json.dumps(model) + self._text[end:]).encode()
        if stream_options:
            close = out.rindex(b"}")
            out = out[:close] + _STREAM_OPTIONS.encode() + out[close:]
        return out


def _scan_object(text: str, idx: int) -> tuple[dict[str, Any], tuple[int, int] | None]:
    """``json.loads`` of the object at ``text[idx]``, plus the span of its one ``model`` value.

    Each top-level value is decoded by the json module's C scanner; only the handful of
    top-level keys are walked here. Raises ``ValueError`` on anything ``json.loads`` rejects.
    """
    data: dict[str, Any] = {}
    span: tuple[int, int] | None = None
    models = 0
    idx = _ws(text, idx + 1)
    if text.startswith("}", idx):
        idx += 1
    else:
        while True:
            if not text.startswith('"', idx):
                raise ValueError("expected a key")
            key, idx = scanstring(text, idx + 1)
            idx = _ws(text, idx)
            if not text.startswith(":", idx):
                raise ValueError("expected ':'")
            idx = _ws(text, idx + 1)
            value, end = _DECODER.raw_decode(text, idx)
            if key == "model":
                span, models = (idx, end), models + 1
            data[key] = value
            idx = _ws(text, end)
            if text.startswith(",", idx):
                idx = _ws(text, idx + 1)
                continue
            if text.startswith("}", idx):
                idx += 1
                break
            raise ValueError("expected ',' or '}'")
    if _ws(text, idx) != len(text):
        raise ValueError("extra data after the object")
    return data, span if models == 1 else None


def usage_of(content: bytes) -> tuple[int, int] | None:
    """(prompt_tokens, completion_tokens) of an OpenAI response body, or None without usage.

    Servers put ``usage`` after the (possibly huge: embeddings) payload, so the last
    ``"usage"`` key is decoded on its own; anything unexpected falls back to a full parse.
    """
    at = content.rfind(b'"usage"')
    if at < 0:
        return None
    usage: Any = None
    if at > 0 and content[at - 1 : at] != b"\\":
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            text = content[at + 7 :].decode()
            idx = _ws(text)
            if text.startswith(":", idx):
                usage, _ = _DECODER.raw_decode(text, _ws(text, idx + 1))
    if not isinstance(usage, dict):
        try:
            parsed = json.loads(content)
        except (ValueError, UnicodeDecodeError):
            return None
        usage = parsed.get("usage") if isinstance(parsed, dict) else None
        if not isinstance(usage, dict):
            return None
    try:
        return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    except (ValueError, TypeError):
        return None


# A top-level-looking "model" key and its string (or null) value. The key's opening quote
# must follow "{" or "," (whitespace aside): inside a JSON string every quote is escaped,
# so this never matches text in a message, tool arguments or any other string value.
_MODEL_VALUE = re.compile(rb'([{,][ \t\r\n]*"model"[ \t\r\n]*:[ \t\r\n]*)(?:"(?:[^"\\]|\\.)*"|null)')


def with_model(content: bytes, model: bytes) -> bytes:
    """``content`` with each ``"model"`` key's value spliced to ``model`` (a JSON string).

    For SSE events (one ``model`` per event) and OpenAI answers, whose schemas nest no
    other ``model`` key: one scan of the bytes, no JSON parse or re-encode.
    """
    if b'"model"' not in content:
        return content
    return _MODEL_VALUE.sub(lambda match: match.group(1) + model, content)


def answer_model(content: bytes, asset_id: str) -> bytes:
    """The upstream's JSON answer with ``model`` set to the asset id (added if it had none)."""
    model = json.dumps(asset_id).encode()
    replaced, found = _MODEL_VALUE.subn(lambda match: match.group(1) + model, content, 1)
    if found:
        return replaced
    try:
        answer = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return content
    if not isinstance(answer, dict):
        return content
    return json.dumps({**answer, "model": asset_id}).encode()
