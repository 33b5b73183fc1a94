"""More of the OpenAI HTTP protocol, one mixin per endpoint: completions, rerank, audio,
moderations.

Like ``_openai``, each mixin makes an adapter implement one capability protocol (rerank,
speech to text, text to speech, moderation) by speaking that endpoint; the gateway proxies
requests to an adapter with the mixin byte for byte.
"""

from __future__ import annotations

from typing import Any

import httpx

from runtimes.adapters._http import HttpAdapter, error_from_response, error_from_transport
from runtimes.errors import UpstreamError
from runtimes.protocols.moderation import ModerationRequest, ModerationResponse, ModerationResult
from runtimes.protocols.rerank import RerankRequest, RerankResponse, RerankResult
from runtimes.protocols.speech_to_text import TranscriptionRequest, TranscriptionResponse
from runtimes.protocols.tts import SpeechRequest, SpeechResponse

COMPLETIONS_PATH = "/v1/completions"
RERANK_PATH = "/v1/rerank"
TRANSCRIPTIONS_PATH = "/v1/audio/transcriptions"
SPEECH_PATH = "/v1/audio/speech"
MODERATIONS_PATH = "/v1/moderations"


class OpenAICompletions(HttpAdapter):
    """Speaks the legacy ``POST /v1/completions`` (prompt in, text out; SSE when streamed)."""

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = self._request(
            "POST", COMPLETIONS_PATH, json_body={**body, "model": self.binding.model, "stream": False}
        ).json()
        return payload


class OpenAIRerank(HttpAdapter):
    """``RerankRuntime`` over ``POST /v1/rerank`` (llama-server ``--reranking``, vLLM, Jina/Cohere style)."""

    def rerank(self, request: RerankRequest) -> RerankResponse:
        body: dict[str, Any] = {
            "model": self.binding.model,
            "query": request.query,
            "documents": request.documents,
        }
        if request.top_n is not None:
            body["top_n"] = request.top_n
        payload = self._request("POST", RERANK_PATH, json_body=body).json()
        try:
            results = [
                RerankResult(int(item["index"]), float(item.get("relevance_score", item.get("score"))))
                for item in payload.get("results") or payload.get("data") or []
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise UpstreamError(f"{RERANK_PATH}: unexpected answer: {exc}") from exc
        results.sort(key=lambda result: result.score, reverse=True)
        return RerankResponse(results=results, model=self.binding.model)


class OpenAITranscription(HttpAdapter):
    """``SpeechToTextRuntime`` over ``POST /v1/audio/transcriptions`` (multipart upload)."""

    def transcribe(self, request: TranscriptionRequest) -> TranscriptionResponse:
        fields = {"model": self.binding.model, "response_format": "json"}
        if request.language:
            fields["language"] = request.language
        if request.prompt:
            fields["prompt"] = request.prompt
        url = self._url(TRANSCRIPTIONS_PATH)
        files = {"file": (request.filename, request.audio, request.content_type)}
        try:
            response = self._client.post(url, data=fields, files=files, timeout=self._timeout)
        except httpx.TransportError as exc:
            raise error_from_transport(exc, url) from exc
        if response.status_code >= 400:
            raise error_from_response(response)
        payload = response.json()
        duration = payload.get("duration")
        return TranscriptionResponse(
            text=str(payload.get("text") or ""),
            language=payload.get("language"),
            duration_s=None if duration is None else float(duration),
        )


class OpenAISpeech(HttpAdapter):
    """``TTSRuntime`` over ``POST /v1/audio/speech`` (the answer is the audio itself)."""

    def synthesize(self, request: SpeechRequest) -> SpeechResponse:
        body = {
            "model": self.binding.model,
            "input": request.input,
            "voice": request.voice,
            "response_format": request.response_format,
            "speed": request.speed,
        }
        response = self._request("POST", SPEECH_PATH, json_body=body)
        return SpeechResponse(
            audio=response.content,
            content_type=response.headers.get("content-type", "application/octet-stream"),
        )


class OpenAIModeration(HttpAdapter):
    """``ModerationRuntime`` over ``POST /v1/moderations``."""

    def moderate(self, request: ModerationRequest) -> ModerationResponse:
        body = {"model": self.binding.model, "input": request.inputs}
        payload = self._request("POST", MODERATIONS_PATH, json_body=body).json()
        results = [
            ModerationResult(
                flagged=bool(item.get("flagged")),
                categories={str(k): bool(v) for k, v in (item.get("categories") or {}).items()},
                category_scores={str(k): float(v) for k, v in (item.get("category_scores") or {}).items()},
            )
            for item in payload.get("results") or []
        ]
        return ModerationResponse(results=results, model=str(payload.get("model") or self.binding.model))
