"""How a streamed chat answer ends: the chunks that came are yielded, then a stream cut short
before its end marker, or a connection lost, is an error of ours (sync and async alike)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from runtimes.adapters.llama_cpp import LlamaCppAdapter
from runtimes.adapters.ollama import OllamaAdapter
from runtimes.binding import RuntimeBinding
from runtimes.errors import RuntimeAdapterError, RuntimeTimeout, UpstreamError
from runtimes.protocols import ChatRequest

HELLO = ChatRequest.of([{"role": "user", "content": "hi"}], max_tokens=2)
SSE_CUT_SHORT = b'data: {"choices": [{"index": 0, "delta": {"content": "Hel"}}]}\n\n'
SSE_NO_BLANK_LINE = b'data: {"choices": [{"index": 0, "delta": {"content": "Hel"}}]}\n'
NDJSON_CUT_SHORT = b'{"message": {"role": "assistant", "content": "Hel"}, "done": false}\n'


def _adapter(kind: str, answer: Callable[[httpx.Request], httpx.Response]) -> Any:
    binding = RuntimeBinding(kind=kind, model="m", base_url="http://runtime.test")
    adapter = LlamaCppAdapter(binding) if kind == "llama-cpp" else OllamaAdapter(binding)
    transport = httpx.MockTransport(answer)
    adapter._client = httpx.Client(transport=transport)
    adapter._aclient = httpx.AsyncClient(transport=transport)
    return adapter


def _read(adapter: Any, mode: str) -> tuple[list[str], RuntimeAdapterError]:
    """The deltas read before the error, and the error."""
    deltas: list[str] = []

    def consume() -> None:
        for chunk in adapter.chat_stream(HELLO):
            deltas.append(chunk.delta)

    async def aconsume() -> None:
        async for chunk in adapter.achat_stream(HELLO):
            deltas.append(chunk.delta)

    with pytest.raises(RuntimeAdapterError) as raised:
        consume() if mode == "sync" else asyncio.run(aconsume())
    return deltas, raised.value


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(
    ("kind", "body", "message"),
    [
        ("llama-cpp", SSE_CUT_SHORT, "http://runtime.test/v1/chat/completions: stream ended without [DONE]"),
        (
            "llama-cpp",
            SSE_NO_BLANK_LINE,
            "http://runtime.test/v1/chat/completions: stream ended without [DONE]",
        ),
        ("ollama", NDJSON_CUT_SHORT, "http://runtime.test/api/chat: stream ended before done"),
    ],
)
def test_a_stream_cut_short_yields_what_came_then_raises(
    kind: str, body: bytes, message: str, mode: str
) -> None:
    adapter = _adapter(kind, lambda request: httpx.Response(200, content=body))

    deltas, error = _read(adapter, mode)

    assert deltas == ["Hel"]
    assert type(error) is UpstreamError
    assert error.message == message


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("kind", ["llama-cpp", "ollama"])
def test_a_lost_connection_is_ours(kind: str, mode: str) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def too_slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    _, refused = _read(_adapter(kind, refuse), mode)
    _, timed_out = _read(_adapter(kind, too_slow), mode)

    assert type(refused) is UpstreamError
    assert "cannot connect: refused" in refused.message
    assert type(timed_out) is RuntimeTimeout
