"""ASGI plumbing the gateway's modules share: message types, reading a body, sending JSON."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from runtimes.errors import RuntimeAdapterError
from runtimes.gateway.errors import PayloadTooLarge, error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]


class ClientGone(Exception):
    """The client disconnected before its request was read or answered."""


@dataclass
class Call:
    """One request's bookkeeping: what the response has done so far, and its usage event."""

    started_at: float
    started: float
    asset_id: str = ""
    interface: str = ""
    status: int = 200
    prompt_tokens: int = 0
    completion_tokens: int = 0
    input_count: int = 0
    first_token: float | None = None
    last_token: float | None = None
    response_started: bool = False
    response_done: bool = False
    streaming: bool = False  # the response is an SSE stream (errors after its start are events)
    client_gone: bool = False
    upstream_done: Callable[[], None] | None = None  # frees the slot once the runtime has answered
    extra: dict[str, Any] = field(default_factory=dict)


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def read_body(receive: Receive, limit: int) -> bytes:
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def send_body(
    send: Send, call: Call, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A whole response (JSON unless ``headers`` name another content type)."""
    call.response_started = True
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*(headers or JSON_HEADERS), (b"content-length", str(len(body)).encode())],
        }
    )
    call.response_done = True
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_json(send: Send, call: Call, status: int, body: bytes) -> None:
    await send_body(send, call, status, body)


async def send_error(send: Send, exc: RuntimeAdapterError) -> None:
    body = json.dumps(error_body(exc)).encode()
    headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in exc.response_headers().items()]
    await send({"type": "http.response.start", "status": exc.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
