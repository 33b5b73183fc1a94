"""``LLMRuntime``: chat completions, whole or streamed, in OpenAI's shapes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, runtime_checkable

from runtimes.protocols.common import JSONObject, Usage

CAPABILITY: Final = "llm"


@dataclass(frozen=True)
class ChatRequest:
    """An OpenAI ``/v1/chat/completions`` body, carried through as is.

    The adapter sets ``model`` to the binding's model name and ``stream`` to match
    the call; every other field reaches the runtime unchanged (or translated, for a
    runtime with its own protocol).
    """

    body: JSONObject

    @classmethod
    def of(
        cls,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        **extra: Any,
    ) -> ChatRequest:
        body: JSONObject = {"messages": messages, **extra}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if temperature is not None:
            body["temperature"] = temperature
        return cls(body=body)


@dataclass(frozen=True)
class ChatResponse:
    """A finished chat completion.

    ``body`` is always an OpenAI ``chat.completion`` object. ``upstream`` holds the
    runtime's exact response bytes; when ``passthrough`` is true they are that same
    OpenAI object and a gateway may forward them verbatim.
    """

    body: JSONObject
    upstream: bytes
    passthrough: bool
    usage: Usage | None = None
    tokens_per_second: float | None = None

    @property
    def content(self) -> str:
        choices = self.body.get("choices") or [{}]
        return str((choices[0].get("message") or {}).get("content") or "")

    @property
    def finish_reason(self) -> str | None:
        choices = self.body.get("choices") or [{}]
        reason = choices[0].get("finish_reason")
        return None if reason is None else str(reason)


@dataclass(frozen=True)
class ChatChunk:
    """One streamed event.

    ``sse`` is the event in OpenAI SSE framing (``data: {...}\\n\\n``), verbatim from
    runtimes that speak SSE and re-encoded from those that do not; forward it as is.
    ``data`` is the parsed ``chat.completion.chunk`` (``None`` for the final
    ``[DONE]`` event, where ``done`` is true). ``usage`` and ``tokens_per_second``
    are set on the chunk that carried them, usually the last one before ``[DONE]``.
    """

    sse: bytes
    upstream: bytes
    data: JSONObject | None = None
    done: bool = False
    usage: Usage | None = None
    tokens_per_second: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def delta(self) -> str:
        if not self.data:
            return ""
        choices = self.data.get("choices") or []
        if not choices:
            return ""
        return str((choices[0].get("delta") or {}).get("content") or "")

    @property
    def finish_reason(self) -> str | None:
        choices = (self.data or {}).get("choices") or []
        if not choices or choices[0].get("finish_reason") is None:
            return None
        return str(choices[0]["finish_reason"])


@runtime_checkable
class LLMRuntime(Protocol):
    """Chat with one model."""

    def chat(self, request: ChatRequest) -> ChatResponse:
        """Run one completion and return it whole.

        Raises ``ModelNotFound``, ``ModelLoading`` (503, retry later), ``RuntimeBusy``
        (429), ``InvalidRequest`` (the runtime rejected the body), ``RuntimeTimeout``
        or ``UpstreamError``.
        """
        ...

    def chat_stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        """Stream one completion; the last chunk has ``done=True``.

        The request is sent on the first ``next()``, so every error comes out of the
        iterator: before the first chunk the same ones as ``chat``; a runtime that
        dies mid-stream (or ends without ``[DONE]``) gives ``UpstreamError``. Closing
        the iterator early closes the upstream connection.
        """
        ...


@runtime_checkable
class AsyncLLMRuntime(Protocol):
    """The streaming half of ``LLMRuntime`` for an event loop (the ASGI gateway)."""

    def achat_stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Same contract as ``LLMRuntime.chat_stream``, without blocking the loop."""
        ...
