"""The OpenAI HTTP protocol (chat with SSE, embeddings), shared by every runtime speaking it.

Each piece is a mixin for one capability, so an adapter gains exactly the protocols it
inherits: mixing in ``OpenAIChat`` makes a class an ``LLMRuntime`` and nothing more.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from runtimes.adapters._chunks import aread_chunks, read_chunks
from runtimes.adapters._http import HttpAdapter
from runtimes.errors import UpstreamError
from runtimes.protocols.common import JSONObject, Usage
from runtimes.protocols.embedding import EmbeddingRequest, EmbeddingResponse
from runtimes.protocols.llm import ChatChunk, ChatRequest, ChatResponse

CHAT_PATH = "/v1/chat/completions"
EMBEDDINGS_PATH = "/v1/embeddings"


def usage_of(payload: JSONObject) -> Usage | None:
    usage = payload.get("usage")
    if not isinstance(usage, dict):
        return None
    return Usage(
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
    )


class SSEDecoder:
    """Turns SSE lines into complete events: ``(event bytes as received, data text)``."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def feed(self, line: str) -> tuple[bytes, str] | None:
        if line:
            self._lines.append(line)
            return None
        if not self._lines:
            return None
        lines, self._lines = self._lines, []
        data = "\n".join(entry[5:].removeprefix(" ") for entry in lines if entry.startswith("data:"))
        return ("\n".join(lines) + "\n\n").encode(), data

    def flush(self) -> tuple[bytes, str] | None:
        return self.feed("")


class SSEChunks:
    """The :class:`LineParser` of an OpenAI SSE stream: each complete event through ``chunk``."""

    unfinished = "without [DONE]"

    def __init__(self, chunk: Callable[[tuple[bytes, str]], ChatChunk | None]) -> None:
        self._decoder = SSEDecoder()
        self._chunk = chunk

    def feed(self, line: str) -> list[ChatChunk]:
        return self._of(self._decoder.feed(line))

    def flush(self) -> list[ChatChunk]:
        return self._of(self._decoder.flush())

    def _of(self, event: tuple[bytes, str] | None) -> list[ChatChunk]:
        chunk = self._chunk(event) if event else None
        return [] if chunk is None else [chunk]


class OpenAIChat(HttpAdapter):
    """``LLMRuntime`` and ``AsyncLLMRuntime`` over ``POST /v1/chat/completions``."""

    def tokens_per_second(self, payload: JSONObject) -> float | None:
        """Generation speed, where the runtime reports it (llama.cpp's ``timings``)."""
        return None

    def usage_from(self, payload: JSONObject) -> Usage | None:
        return usage_of(payload)

    def chat(self, request: ChatRequest) -> ChatResponse:
        body = {**request.body, "model": self.binding.model, "stream": False}
        body.pop("stream_options", None)
        response = self._request("POST", CHAT_PATH, json_body=body)
        payload = response.json()
        return ChatResponse(
            body=payload,
            upstream=response.content,
            passthrough=True,
            usage=self.usage_from(payload),
            tokens_per_second=self.tokens_per_second(payload),
        )

    def _stream_body(self, request: ChatRequest) -> JSONObject:
        body = {**request.body, "model": self.binding.model, "stream": True}
        # The hub records usage, so ask for it unless the caller chose otherwise.
        body.setdefault("stream_options", {"include_usage": True})
        return body

    def _chunk(self, event: tuple[bytes, str]) -> ChatChunk | None:
        raw, data = event
        if not data:
            return None
        if data.strip() == "[DONE]":
            return ChatChunk(sse=raw, upstream=raw, done=True)
        try:
            payload = json.loads(data)
        except json.JSONDecodeError as exc:
            raise UpstreamError(f"stream: event is not JSON: {data[:200]!r}") from exc
        if "error" in payload and "choices" not in payload:
            raise UpstreamError(f"stream: {payload['error']}")
        return ChatChunk(
            sse=raw,
            upstream=raw,
            data=payload,
            usage=self.usage_from(payload),
            tokens_per_second=self.tokens_per_second(payload),
        )

    def chat_stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        opened = self._streaming(CHAT_PATH, self._stream_body(request))
        yield from read_chunks(opened, self._url(CHAT_PATH), SSEChunks(self._chunk))

    async def achat_stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        opened = self._astreaming(CHAT_PATH, self._stream_body(request))
        async for chunk in aread_chunks(opened, self._url(CHAT_PATH), SSEChunks(self._chunk)):
            yield chunk


class OpenAIEmbeddings(HttpAdapter):
    """``TextEmbeddingRuntime`` over ``POST /v1/embeddings``."""

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        body: dict[str, Any] = {
            **request.extra,
            "model": self.binding.model,
            "input": request.inputs,
            "encoding_format": "float",
        }
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        payload = self._request("POST", EMBEDDINGS_PATH, json_body=body).json()
        items = sorted(payload.get("data") or [], key=lambda item: int(item.get("index", 0)))
        vectors = [[float(x) for x in item["embedding"]] for item in items]
        if len(vectors) != len(request.inputs):
            raise UpstreamError(f"{EMBEDDINGS_PATH}: {len(vectors)} vectors for {len(request.inputs)} inputs")
        return EmbeddingResponse(
            vectors=vectors,
            model=str(payload.get("model") or self.binding.model),
            usage=usage_of(payload),
        )
