"""Serving rerank, transcription, speech and moderation.

An adapter that speaks the OpenAI-style endpoint is proxied byte for byte; one that
implements the capability otherwise (TEI's ``/rerank``) is called and its answer put in
that endpoint's shape.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from runtimes.adapters._openai_more import (
    MODERATIONS_PATH,
    RERANK_PATH,
    SPEECH_PATH,
    TRANSCRIPTIONS_PATH,
    OpenAIModeration,
    OpenAIRerank,
    OpenAISpeech,
    OpenAITranscription,
)
from runtimes.gateway.asgi import Call, Send, send_body, send_json
from runtimes.gateway.forward import Serve, Upstreams, in_thread
from runtimes.gateway.jsonbody import Body
from runtimes.gateway.resolve import Target
from runtimes.gateway.serve_llm import not_served
from runtimes.protocols.moderation import ModerationRequest, ModerationRuntime
from runtimes.protocols.rerank import RerankRequest, RerankRuntime
from runtimes.protocols.speech_to_text import SpeechToTextRuntime, TranscriptionRequest
from runtimes.protocols.tts import SpeechRequest, TTSRuntime

Native = Callable[[Any, Send, Call, Body], Awaitable[None]]


def served(path: str, speaks: type, implements: type, native: Native, *, passthrough: bool = False) -> Serve:
    """Serving ``path``: proxied byte for byte to an adapter that speaks it (a ``speaks``), else
    answered by ``native`` through one that implements the capability (an ``implements``);
    ``not_served`` for any other. A proxied JSON answer names the asset as its ``model``; with
    ``passthrough`` the runtime's answer (audio, text) is streamed back as it arrives."""

    async def serve(up: Upstreams, send: Send, call: Call, target: Target, body: Body) -> None:
        adapter = up.adapter(target)
        if isinstance(adapter, speaks):
            forward = body.forward(target.model)
            if passthrough:
                await up.proxy_raw(send, call, adapter, path, forward, body.content_type)
            else:
                await up.proxy_json(send, call, adapter, path, forward)
            return
        if not isinstance(adapter, implements):
            raise not_served(target, path)
        await native(adapter, send, call, body)

    return serve


def document_text(document: Any) -> str:
    return str(document["text"]) if isinstance(document, dict) else str(document)


async def _rerank(adapter: RerankRuntime, send: Send, call: Call, body: Body) -> None:
    data = body.data
    documents = [document_text(d) for d in data["documents"]]
    ranked = await in_thread(adapter.rerank, RerankRequest(str(data["query"]), documents, data.get("top_n")))
    results: list[dict[str, Any]] = []
    for result in ranked.results:
        item: dict[str, Any] = {"index": result.index, "relevance_score": result.score}
        if data.get("return_documents"):
            item["document"] = {"text": documents[result.index]}
        results.append(item)
    answer = {"object": "list", "model": call.asset_id, "results": results}
    await send_json(send, call, 200, json.dumps(answer).encode())


async def _transcription(adapter: SpeechToTextRuntime, send: Send, call: Call, body: Body) -> None:
    data = body.data
    upload = data["file"]
    request = TranscriptionRequest(
        audio=upload.content,
        filename=upload.filename or "audio",
        language=data.get("language"),
        prompt=data.get("prompt"),
    )
    text = await in_thread(adapter.transcribe, request)
    await send_json(send, call, 200, json.dumps({"text": text.text}).encode())


async def _speech(adapter: TTSRuntime, send: Send, call: Call, body: Body) -> None:
    data = body.data
    request = SpeechRequest(
        input=str(data["input"]),
        voice=str(data.get("voice") or "default"),
        response_format=str(data.get("response_format") or "mp3"),
        speed=float(data.get("speed") or 1.0),
    )
    audio = await in_thread(adapter.synthesize, request)
    await send_body(send, call, 200, audio.audio, [(b"content-type", audio.content_type.encode())])


async def _moderation(adapter: ModerationRuntime, send: Send, call: Call, body: Body) -> None:
    inputs = body.data["input"]
    texts = [inputs] if isinstance(inputs, str) else [str(i) for i in inputs]
    moderated = await in_thread(adapter.moderate, ModerationRequest(texts))
    results = [
        {"flagged": r.flagged, "categories": r.categories, "category_scores": r.category_scores}
        for r in moderated.results
    ]
    answer = {"id": "modr-hub", "model": call.asset_id, "results": results}
    await send_json(send, call, 200, json.dumps(answer).encode())


rerank = served(RERANK_PATH, OpenAIRerank, RerankRuntime, _rerank)
transcription = served(
    TRANSCRIPTIONS_PATH, OpenAITranscription, SpeechToTextRuntime, _transcription, passthrough=True
)
speech = served(SPEECH_PATH, OpenAISpeech, TTSRuntime, _speech, passthrough=True)
moderation = served(MODERATIONS_PATH, OpenAIModeration, ModerationRuntime, _moderation)
