"""Hugging Face Text Embeddings Inference (``text-embeddings-router``).

API: ``/health``, ``/info`` (model id, model type, batch limits), ``POST /embed``
(``{"inputs": [...]}`` -> list of vectors), ``POST /rerank`` (``{"query", "texts"}``
-> ``[{"index", "score"}]``), ``/v1/embeddings``. One model per process; a process
serves embeddings or reranking depending on the model. No text generation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from runtimes.adapters._config import LaunchableConfig
from runtimes.adapters._launchable import LaunchableRuntime
from runtimes.errors import RuntimeAdapterError, UpstreamError
from runtimes.protocols.common import Usage
from runtimes.protocols.embedding import EmbeddingRequest, EmbeddingResponse
from runtimes.protocols.managed import RuntimeMetadata
from runtimes.protocols.provider import CredentialCheck, Reachability, ServedModel
from runtimes.protocols.rerank import RerankRequest, RerankResponse, RerankResult


class TEIAdapter(LaunchableRuntime):
    kind: ClassVar[str] = "tei"
    config_model = LaunchableConfig

    @staticmethod
    def listen_args(host: str, port: int) -> Sequence[str]:
        return ["--hostname", host, "--port", str(port)]

    def info(self) -> dict[str, Any]:
        payload: dict[str, Any] = self._get_json("/info", timeout=5.0)
        return payload

    def check_reachable(self) -> Reachability:
        try:
            info = self.info()
        except RuntimeAdapterError as exc:
            return Reachability(False, str(exc))
        version = info.get("version")
        return Reachability(True, "up", version=None if version is None else str(version))

    def list_models(self) -> list[ServedModel]:
        info = self.info()
        return [ServedModel(str(info.get("model_id")), info)]

    def validate_credentials(self) -> CredentialCheck:
        return CredentialCheck(True, "no API key configured")

    def context_length(self) -> int | None:
        try:
            value = self.info().get("max_input_length")
        except RuntimeAdapterError:
            return None
        return None if value is None else int(value)

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        body: dict[str, Any] = {"inputs": request.inputs, "normalize": True, **request.extra}
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        response = self._request("POST", "/embed", json_body=body)
        vectors = [[float(x) for x in vector] for vector in response.json()]
        if len(vectors) != len(request.inputs):
            raise UpstreamError(f"/embed: {len(vectors)} vectors for {len(request.inputs)} inputs")
        tokens = response.headers.get("x-compute-tokens")
        return EmbeddingResponse(
            vectors=vectors,
            model=self.binding.model,
            usage=Usage(prompt_tokens=int(tokens)) if tokens and tokens.isdigit() else None,
        )

    def rerank(self, request: RerankRequest) -> RerankResponse:
        body = {"query": request.query, "texts": request.documents, "raw_scores": False}
        ranked = self._request("POST", "/rerank", json_body=body).json()
        results = sorted(
            (RerankResult(int(item["index"]), float(item["score"])) for item in ranked),
            key=lambda result: result.score,
            reverse=True,
        )
        if request.top_n is not None:
            results = results[: request.top_n]
        return RerankResponse(results=results, model=self.binding.model)

    def metadata(self) -> RuntimeMetadata:
        info = self.info()
        dimension = None
        if "embedding" in (info.get("model_type") or {}):
            # /info does not state the vector size; one tiny embed does.
            dimension = self.embed(EmbeddingRequest(inputs=["dimension probe"])).dimension
        return RuntimeMetadata(
            kind=self.kind,
            model=str(info.get("model_id") or self.binding.model),
            context_length=info.get("max_input_length"),
            embedding_dimension=dimension,
            max_concurrency=info.get("max_concurrent_requests"),
            version=info.get("version"),
            extra={
                "model_type": info.get("model_type"),
                "max_batch_tokens": info.get("max_batch_tokens"),
                "max_client_batch_size": info.get("max_client_batch_size"),
            },
        )
