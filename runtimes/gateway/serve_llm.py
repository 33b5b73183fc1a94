"""Serving the language and embedding operations: chat, completion, embeddings."""

from __future__ import annotations

import json

from runtimes.adapters._openai import CHAT_PATH, EMBEDDINGS_PATH, OpenAIChat, OpenAIEmbeddings
from runtimes.adapters._openai_more import COMPLETIONS_PATH, OpenAICompletions
from runtimes.gateway.asgi import Call, Send, send_json
from runtimes.gateway.errors import BadRequest, OperationNotServed
from runtimes.gateway.forward import Upstreams, in_thread
from runtimes.gateway.jsonbody import Body
from runtimes.gateway.resolve import Target
from runtimes.gateway.sse import relay_chunks
from runtimes.protocols.embedding import EmbeddingRequest, TextEmbeddingRuntime
from runtimes.protocols.llm import AsyncLLMRuntime, ChatRequest, LLMRuntime


def not_served(target: Target, path: str) -> OperationNotServed:
    return OperationNotServed(f"model {target.asset_id!r} runs on {target.kind}, which does not serve {path}")


async def chat(up: Upstreams, send: Send, call: Call, target: Target, body: Body) -> None:
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
        raise not_served(target, CHAT_PATH)


async def completion(up: Upstreams, send: Send, call: Call, target: Target, body: Body) -> None:
    adapter = up.adapter(target)
    if not isinstance(adapter, OpenAICompletions):
        raise not_served(target, COMPLETIONS_PATH)
    if body.data.get("stream"):
        injected = "stream_options" not in body.data
        content = body.forward(target.model, stream_options=injected)
        await up.proxy_stream(send, call, adapter, COMPLETIONS_PATH, content, strip_usage=injected)
    else:
        await up.proxy_json(send, call, adapter, COMPLETIONS_PATH, body.forward(target.model))


async def embeddings(up: Upstreams, send: Send, call: Call, target: Target, body: Body) -> None:
    adapter = up.adapter(target)
    request = body.data
    if isinstance(adapter, OpenAIEmbeddings):
        await up.proxy_json(send, call, adapter, EMBEDDINGS_PATH, body.forward(target.model))
        return
    if not isinstance(adapter, TextEmbeddingRuntime):
        raise not_served(target, EMBEDDINGS_PATH)
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
