"""Server-sent events through the gateway: relayed event by event, usage noted on the way.

:func:`relay` passes an OpenAI-speaking upstream's SSE bytes through as they arrive (each
complete event with the asset id as ``model``); :func:`relay_chunks` does the same for an
adapter that translates another protocol into ``ChatChunk``\\ s.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx

from runtimes.adapters._http import error_from_transport
from runtimes.errors import RuntimeAdapterError, UpstreamError
from runtimes.gateway.asgi import Call, Send
from runtimes.gateway.errors import error_body
from runtimes.gateway.jsonbody import with_model
from runtimes.gateway.wire import Response
from runtimes.protocols.llm import ChatChunk

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def error_event(exc: RuntimeAdapterError) -> bytes:
    return b"data: " + json.dumps(error_body(exc)).encode() + b"\n\n"


def comment(text: str) -> bytes:
    """An SSE comment line: clients ignore it, proxies see the stream is alive."""
    return b": " + text.replace("\n", " ").encode() + b"\n\n"


async def start(send: Send, call: Call) -> None:
    """Send the stream's status and headers (once)."""
    if not call.response_started:
        call.response_started = call.streaming = True
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})


async def push(send: Send, body: bytes) -> None:
    await send({"type": "http.response.body", "body": body, "more_body": True})


async def finish(send: Send, call: Call, body: bytes = b"") -> None:
    call.response_done = True
    await send({"type": "http.response.body", "body": body, "more_body": False})


def waiting_comments(send: Send, call: Call) -> Callable[[int], Awaitable[None]]:
    """For a streamed request that waits in line: start the stream, and say so in comments."""

    async def waiting(position: int) -> None:
        await start(send, call)
        await push(send, comment(f"waiting for a slot ({position} in line)"))

    return waiting


def observe_events(call: Call, events: bytes, strip_usage: bool) -> bytes:
    """Note token timing and usage; drop the usage-only event the client did not ask for."""
    now = time.perf_counter()
    if call.first_token is None:
        call.first_token = now
    call.last_token = now
    if b'"usage"' not in events:
        return events
    kept = []
    for event in events.split(b"\n\n"):
        if not event:
            continue
        if b'"usage"' in event and event.startswith(b"data:"):
            with contextlib.suppress(ValueError, AttributeError, TypeError):
                payload = json.loads(event[5:])
                usage = payload.get("usage")
                if usage:
                    call.prompt_tokens = int(usage.get("prompt_tokens") or 0)
                    call.completion_tokens = int(usage.get("completion_tokens") or 0)
                    if strip_usage and not payload.get("choices"):
                        continue
        kept.append(event + b"\n\n")
    return b"".join(kept)


async def relay(send: Send, call: Call, response: Response, url: str, *, strip_usage: bool) -> None:
    """Pass the upstream's events through as each completes; a transport failure ends the
    stream with an error event."""
    await start(send, call)
    model = json.dumps(call.asset_id).encode()
    pending = b""
    try:
        async for raw in response.aiter_raw():
            if b"\r" in raw:
                raw = raw.replace(b"\r\n", b"\n")
            pending += raw
            end = pending.rfind(b"\n\n")
            if end < 0:
                continue
            events, pending = pending[: end + 2], pending[end + 2 :]
            events = with_model(observe_events(call, events, strip_usage), model)
            if events:
                await push(send, events)
    except httpx.TransportError as exc:
        error = error_from_transport(exc, url)
        call.status = error.http_status
        pending += error_event(error)
    await finish(send, call, with_model(pending, model))


async def relay_chunks(send: Send, call: Call, chunks: AsyncIterator[ChatChunk]) -> None:
    """Stream an adapter's translated chunks; an upstream error after the start is an event."""
    model = json.dumps(call.asset_id).encode()
    try:
        async for chunk in chunks:
            await start(send, call)
            if chunk.usage is not None:
                call.prompt_tokens = chunk.usage.prompt_tokens
                call.completion_tokens = chunk.usage.completion_tokens
            now = time.perf_counter()
            call.first_token = call.first_token or now
            call.last_token = now
            await push(send, with_model(chunk.sse, model))
    except UpstreamError as exc:
        if not call.response_started:
            raise
        call.status = exc.http_status
        await push(send, error_event(exc))
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
    await finish(send, call)
