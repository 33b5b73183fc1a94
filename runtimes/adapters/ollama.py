"""Ollama: a server the hub does not start, on which it loads and unloads models.

API: ``/api/version``, ``/api/tags`` (models on disk), ``/api/ps`` (models in memory,
with ``context_length``), ``/api/show``, ``POST /api/generate`` with no prompt to load
(``keep_alive``) or unload (``keep_alive: 0``), ``POST /api/chat`` (NDJSON stream),
``POST /api/embed``. Chat goes through the native ``/api/chat`` because only it reports
eval counts and durations (tokens/sec); requests and results are translated
(``_ollama_chat``: images, tools and tool calls included).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import ClassVar

import httpx

from runtimes.adapters._chunks import aread_chunks, read_chunks
from runtimes.adapters._config import ServerConfig
from runtimes.adapters._http import HttpAdapter
from runtimes.adapters._ollama_chat import Translation, answer, ollama_message, tokens_per_second, usage_of
from runtimes.errors import InvalidRequest, ModelNotFound, RuntimeAdapterError, UpstreamError
from runtimes.protocols.common import JSONObject, Usage
from runtimes.protocols.embedding import EmbeddingRequest, EmbeddingResponse
from runtimes.protocols.llm import ChatChunk, ChatRequest, ChatResponse
from runtimes.protocols.managed import HealthReport, HealthState, RunningTarget, RuntimeMetadata
from runtimes.protocols.provider import CredentialCheck, Reachability, ServedModel

# The hub decides when a model sleeps, so Ollama must never unload it on its own timer;
# every request repeats this because Ollama resets the timer to each request's value.
KEEP_LOADED = -1

_OPTIONS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "max_tokens": "num_predict",
    "max_completion_tokens": "num_predict",
    "seed": "seed",
    "stop": "stop",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
}


def _tagged(name: str) -> str:
    return name if ":" in name else f"{name}:latest"


class OllamaAdapter(HttpAdapter):
    kind: ClassVar[str] = "ollama"
    config_model = ServerConfig
    load_timeout_s: ClassVar[float] = 600.0

    def check_reachable(self) -> Reachability:
        try:
            version = self._get_json("/api/version", timeout=5.0).get("version")
        except RuntimeAdapterError as exc:
            return Reachability(False, str(exc))
        return Reachability(True, "up", version=None if version is None else str(version))

    def list_models(self) -> list[ServedModel]:
        payload = self._get_json("/api/tags")
        return [ServedModel(str(m["name"]), dict(m)) for m in payload.get("models", [])]

    def validate_credentials(self) -> CredentialCheck:
        return CredentialCheck(True, "Ollama needs no credentials")

    def _loaded(self) -> JSONObject | None:
        wanted = _tagged(self.binding.model)
        for model in self._get_json("/api/ps", timeout=5.0).get("models", []):
            if _tagged(str(model.get("name"))) == wanted or _tagged(str(model.get("model"))) == wanted:
                return dict(model)
        return None

    def _target(self, loaded: JSONObject | None, *, just_started: bool) -> RunningTarget:
        ctx = (loaded or {}).get("context_length")
        return RunningTarget(
            base_url=self._base_url,
            model=self.binding.model,
            context_length=None if ctx is None else int(ctx),
            just_started=just_started,
        )

    def ensure_running(self) -> RunningTarget:
        loaded = self._loaded()
        if loaded is not None:
            return self._target(loaded, just_started=False)
        load_timeout = httpx.Timeout(
            connect=self._timeout.connect,
            read=self.load_timeout_s,
            write=self._timeout.write,
            pool=self._timeout.pool,
        )
        body = {"model": self.binding.model, "keep_alive": KEEP_LOADED}
        try:
            self._request("POST", "/api/generate", json_body=body, timeout=load_timeout)
        except InvalidRequest:
            # Embedding-only models refuse generate; an empty embed loads them too.
            self._request("POST", "/api/embed", json_body={**body, "input": []}, timeout=load_timeout)
        return self._target(self._loaded(), just_started=True)

    def is_ready(self) -> bool:
        try:
            return self._loaded() is not None
        except RuntimeAdapterError:
            return False

    def health(self) -> HealthReport:
        try:
            loaded = self._loaded()
        except RuntimeAdapterError as exc:
            return HealthReport(HealthState.DOWN, str(exc))
        if loaded is None:
            return HealthReport(HealthState.DOWN, "model not loaded")
        return HealthReport(HealthState.OK)

    def stop(self) -> None:
        unload = {"model": self.binding.model, "keep_alive": 0}
        with contextlib.suppress(ModelNotFound):  # not there: nothing to unload
            self._request("POST", "/api/generate", json_body=unload)

    def sleep(self) -> None:
        """Ollama's sleep is an unload: the weights stay on disk, memory is freed."""
        self.stop()

    def metadata(self) -> RuntimeMetadata:
        show = self._request("POST", "/api/show", json_body={"model": self.binding.model}).json()
        info: JSONObject = show.get("model_info") or {}
        by_suffix = {key.rsplit(".", 1)[-1]: value for key, value in info.items()}
        loaded = self._loaded()
        ctx = (loaded or {}).get("context_length") or by_suffix.get("context_length")
        is_embedder = "embedding" in (show.get("capabilities") or [])
        dimension = by_suffix.get("embedding_length") if is_embedder else None
        return RuntimeMetadata(
            kind=self.kind,
            model=self.binding.model,
            context_length=None if ctx is None else int(ctx),
            embedding_dimension=None if dimension is None else int(dimension),
            extra={"details": show.get("details"), "capabilities": show.get("capabilities")},
        )

    def _chat_body(self, request: ChatRequest, *, stream: bool) -> JSONObject:
        source = request.body
        options = {
            ours: source[theirs] for theirs, ours in _OPTIONS.items() if source.get(theirs) is not None
        }
        messages = [ollama_message(m) for m in source["messages"]]
        body: JSONObject = {
            "model": self.binding.model,
            "messages": messages,
            "stream": stream,
            "options": options,
            "keep_alive": KEEP_LOADED,
        }
        if source.get("tools"):
            body["tools"] = source["tools"]
        response_format = source.get("response_format") or {}
        if response_format.get("type") == "json_object":
            body["format"] = "json"
        elif response_format.get("type") == "json_schema":
            body["format"] = (response_format.get("json_schema") or {}).get("schema")
        return body

    def chat(self, request: ChatRequest) -> ChatResponse:
        response = self._request("POST", "/api/chat", json_body=self._chat_body(request, stream=False))
        payload = response.json()
        return ChatResponse(
            body=answer(payload, self.binding.model),
            upstream=response.content,
            passthrough=False,
            usage=usage_of(payload),
            tokens_per_second=tokens_per_second(payload),
        )

    def _translation(self, request: ChatRequest) -> Translation:
        options = request.body.get("stream_options")
        include_usage = True if options is None else bool(options.get("include_usage"))
        return Translation(self.binding.model, include_usage)

    def chat_stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        opened = self._streaming("/api/chat", self._chat_body(request, stream=True))
        yield from read_chunks(opened, self._url("/api/chat"), self._translation(request))

    async def achat_stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        opened = self._astreaming("/api/chat", self._chat_body(request, stream=True))
        async for chunk in aread_chunks(opened, self._url("/api/chat"), self._translation(request)):
            yield chunk

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        body: JSONObject = {
            **request.extra,
            "model": self.binding.model,
            "input": request.inputs,
            "keep_alive": KEEP_LOADED,
        }
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        payload = self._request("POST", "/api/embed", json_body=body).json()
        vectors = [[float(x) for x in v] for v in payload.get("embeddings", [])]
        if len(vectors) != len(request.inputs):
            raise UpstreamError(f"/api/embed: {len(vectors)} vectors for {len(request.inputs)} inputs")
        return EmbeddingResponse(
            vectors=vectors,
            model=self.binding.model,
            usage=Usage(prompt_tokens=int(payload.get("prompt_eval_count") or 0)),
        )
