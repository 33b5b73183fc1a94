"""Serving rerank, transcription, speech and moderation.

An adapter that speaks the OpenAI-style endpoint is proxied byte for byte; one that
implements the capability otherwise (TEI's ``/rerank``) is called and its answer put in
that endpoint's shape.
"""

from __future__ import annotations

import json
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
from runtimes.gateway.forward import Upstreams, in_thread
from runtimes.gateway.jsonbody import Body
from runtimes.gateway.resolve import Target
from runtimes.gateway.serve_llm import not_served
from runtimes.protocols.moderation import ModerationRequest, ModerationRuntime
from runtimes.protocols.rerank import RerankRequest, RerankRuntime
from runtimes.protocols.speech_to_text import SpeechToTextRuntime, TranscriptionRequest
from runtimes.protocols.tts import SpeechRequest, TTSRuntime


def document_text(document: Any) -> str:
    return str(document["text"]) if isinstance(document, dict) else str(document)


async def rerank(up: Upstreams, send: Send, call: Call, target: Target, body: Body) -> None:
    adapter = up.adapter(target)
    if isinstance(adapter, OpenAIRerank):
        await up.proxy_json(send, call, adapter, RERANK_PATH, body.forward(target.model))
        return
    if not isinstance(adapter, RerankRuntime):
        raise not_served(target, RERANK_PATH)
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


async def transcription(up: Upstreams, send: Send, call: Call, target: Target, body: Body) -> None:
    adapter = up.adapter(target)
    if isinstance(adapter, OpenAITranscription):
        await up.proxy_raw(
            send, call, adapter, TRANSCRIPTIONS_PATH, body.forward(target.model), body.content_type
        )
        return
    if not isinstance(adapter, SpeechToTextRuntime):
        raise not_served(target, TRANSCRIPTIONS_PATH)
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


async def speech(up: Upstreams, send: Send, call: Call, target: Target, body: Body) -> None:
    adapter = up.adapter(target)
    if isinstance(adapter, OpenAISpeech):
        await up.proxy_raw(send, call, adapter, SPEECH_PATH, body.forward(target.model), body.content_type)
        return
    if not isinstance(adapter, TTSRuntime):
        raise not_served(target, SPEECH_PATH)
    data = body.data
    request = SpeechRequest(
        input=str(data["input"]),
        voice=str(data.get("voice") or "default"),
        response_format=str(data.get("response_format") or "mp3"),
        speed=float(data.get("speed") or 1.0),
    )
    audio = await in_thread(adapter.synthesize, request)
    await send_body(send, call, 200, audio.audio, [(b"content-type", audio.content_type.encode())])


async def moderation(up: Upstreams, send: Send, call: Call, target: Target, body: Body) -> None:
    adapter = up.adapter(target)
    if isinstance(adapter, OpenAIModeration):
        await up.proxy_json(send, call, adapter, MODERATIONS_PATH, body.forward(target.model))
        return
    if not isinstance(adapter, ModerationRuntime):
        raise not_served(target, MODERATIONS_PATH)
    inputs = body.data["input"]
    texts = [inputs] if isinstance(inputs, str) else [str(i) for i in inputs]
    moderated = await in_thread(adapter.moderate, ModerationRequest(texts))
    results = [
        {"flagged": r.flagged, "categories": r.categories, "category_scores": r.category_scores}
        for r in moderated.results
    ]
    answer = {"id": "modr-hub", "model": call.asset_id, "results": results}
    await send_json(send, call, 200, json.dumps(answer).encode())
