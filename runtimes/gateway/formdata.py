"""``multipart/form-data`` request bodies (audio uploads): read the fields, swap ``model``.

The body is bounded before it gets here (``HUB_GATEWAY_MAX_BODY_BYTES``); parts are split
on the boundary the client declared, and forwarding writes the same parts back with the
runtime's model name, under the same boundary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from runtimes.gateway.errors import BadRequest

MAX_PARTS = 64
_BOUNDARY = re.compile(r'boundary="?([^";]{1,200})"?', re.IGNORECASE)
_NAME = re.compile(rb'\bname="([^"]*)"', re.IGNORECASE)
_FILENAME = re.compile(rb'\bfilename="([^"]*)"', re.IGNORECASE)


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    headers: bytes  # the part's header block, as sent
    content: bytes


class FormBody:
    """A parsed form upload with the same interface as ``RequestBody`` (``data``, ``forward``)."""

    def __init__(self, parts: list[Part], boundary: str, content_type: str) -> None:
        self.parts = parts
        self.boundary = boundary
        self.content_type = content_type
        self.data: dict[str, Any] = {}
        for part in parts:
            if part.filename is None:
                self.data[part.name] = part.content.decode("utf-8", errors="replace")
            else:
                self.data[part.name] = part

    @classmethod
    def parse(cls, raw: bytes, content_type: str | None) -> FormBody:
        if not content_type or not content_type.lower().startswith("multipart/form-data"):
            raise BadRequest("the request body must be multipart/form-data (a file upload)")
        match = _BOUNDARY.search(content_type)
        if match is None:
            raise BadRequest("multipart/form-data without a boundary")
        boundary = match.group(1)
        delimiter = b"--" + boundary.encode("latin-1")
        chunks = raw.split(delimiter)
        if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
            raise BadRequest("the multipart body is malformed (no closing boundary)")
        if len(chunks) - 2 > MAX_PARTS:
            raise BadRequest(f"the form has more than {MAX_PARTS} parts")
        parts = []
        for chunk in chunks[1:-1]:
            if not chunk.startswith(b"\r\n") or not chunk.endswith(b"\r\n"):
                raise BadRequest("the multipart body is malformed")
            head, sep, content = chunk[2:-2].partition(b"\r\n\r\n")
            name = _NAME.search(head)
            if not sep or name is None:
                raise BadRequest("a form part lacks its Content-Disposition name")
            filename = _FILENAME.search(head)
            parts.append(
                Part(
                    name=name.group(1).decode("utf-8", errors="replace"),
                    filename=None
                    if filename is None
                    else filename.group(1).decode("utf-8", errors="replace"),
                    headers=head,
                    content=content,
                )
            )
        return cls(parts, boundary, content_type)

    def forward(self, model: str, *, stream_options: bool = False) -> bytes:
        """The same form with ``model`` set to the runtime's name for it."""
        delimiter = b"--" + self.boundary.encode("latin-1")
        out = []
        for part in self.parts:
            content = model.encode() if part.name == "model" and part.filename is None else part.content
            out.append(delimiter + b"\r\n" + part.headers + b"\r\n\r\n" + content + b"\r\n")
        return b"".join(out) + delimiter + b"--\r\n"
