"""What the gateway does for each operation an interface spec routes to.

An interface spec names its endpoint and its ``capabilities``; the first capability is the
operation served there (``chat``, ``embeddings``, ...). Each :class:`Operation` checks a
request's fields and serves it through the target's adapter: proxied byte for byte when
the adapter speaks OpenAI's protocol for it, else through the adapter's own method.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from runtimes.adapters._openai import CHAT_PATH, EMBEDDINGS_PATH, OpenAIChat, OpenAIEmbeddings
from runtimes.errors import InternalError
from runtimes.gateway.asgi import Call, Send, send_json
from runtimes.gateway.errors import BadRequest
from runtimes.gateway.forward import Upstreams, in_thread
from runtimes.gateway.jsonbody import RequestBody
from runtimes.gateway.resolve import Target
from runtimes.gateway.sse import relay_chunks
from runtimes.protocols.embedding import EmbeddingRequest, TextEmbeddingRuntime
from runtimes.protocols.llm import AsyncLLMRuntime, ChatRequest, LLMRuntime

Serve = Callable[[Upstreams, Send, Call, Target, RequestBody], Awaitable[None]]


@dataclass(frozen=True)
class Operation:
    name: str
    check: Callable[[dict[str, Any]], int]  # raises BadRequest; returns the number of inputs
    serve: Serve

    def streams(self, data: dict[str, Any]) -> bool:
        """Whether the answer is an SSE stream (decided by the request)."""
        return bool(data.get("stream")) and self.name in STREAMING


def _check_chat(request: dict[str, Any]) -> int:
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages: a non-empty list of messages is required", field="messages")
    if not all(isinstance(m, dict) for m in messages):
        raise BadRequest("messages: every message must be an object", field="messages")
    if "stream" in request and not isinstance(request["stream"], bool):
        raise BadRequest("stream: must be true or false", field="stream")
    return 0


def _check_embeddings(request: dict[str, Any]) -> int:
    inputs = request.get("input")
    if isinstance(inputs, str):
        return 1
    if isinstance(inputs, list) and inputs:
        return len(inputs)
    raise BadRequest("input: a string or a non-empty list is required", field="input")


def _cannot(target: Target, what: str) -> InternalError:
    return InternalError(f"{target.kind} runtime cannot serve {what}")


async def _chat(up: Upstreams, send: Send, call: Call, target: Target, body: RequestBody) -> None:
    adapter = up.adapter(target)
    request = body.data
    stream = bool(request.get("stream"))
    if isinstance(adapter, OpenAIChat):
        if stream:
            injected = "stream_options" not in request
            content = body.forward(target.model, stream_options=injected)
            await up.proxy_stream(send, call, adapter, CHAT_PATH, content, strip_usage=injected)
        else:
            await up.proxy_json(send, call, adapter, CHAT_PATH, body.forward(target.model))
    elif stream and isinstance(adapter, AsyncLLMRuntime):
        request["model"] = target.model
        await relay_chunks(send, call, adapter.achat_stream(ChatRequest(body=request)))
    elif isinstance(adapter, LLMRuntime):
        request["model"] = target.model
        response = await in_thread(adapter.chat, ChatRequest(body=request))
        if response.usage is not None:
            call.prompt_tokens = response.usage.prompt_tokens
            call.completion_tokens = response.usage.completion_tokens
        answer = {**response.body, "model": call.asset_id}
        await send_json(send, call, 200, json.dumps(answer).encode())
    else:
        raise _cannot(target, call.interface)


async def _embeddings(up: Upstreams, send: Send, call: Call, target: Target, body: RequestBody) -> None:
    adapter = up.adapter(target)
    request = body.data
    if isinstance(adapter, OpenAIEmbeddings):
        await up.proxy_json(send, call, adapter, EMBEDDINGS_PATH, body.forward(target.model))
        return
    if not isinstance(adapter, TextEmbeddingRuntime):
        raise _cannot(target, call.interface)
    inputs = request["input"]
    texts = [inputs] if isinstance(inputs, str) else inputs
    if not all(isinstance(t, str) for t in texts):
        raise BadRequest("input: this runtime embeds text only", field="input")
    extra = {k: v for k, v in request.items() if k not in {"model", "input", "dimensions"}}
    embedded = await in_thread(
        adapter.embed, EmbeddingRequest(inputs=texts, dimensions=request.get("dimensions"), extra=extra)
    )
    if embedded.usage is not None:
        call.prompt_tokens = embedded.usage.prompt_tokens
    answer = {**embedded.as_openai(), "model": call.asset_id}
    await send_json(send, call, 200, json.dumps(answer).encode())


STREAMING = frozenset({"chat"})

OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation("chat", _check_chat, _chat),
        Operation("embeddings", _check_embeddings, _embeddings),
    )
}
