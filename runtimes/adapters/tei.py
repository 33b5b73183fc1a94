"""Hugging Face Text Embeddings Inference (``text-embeddings-router``).

API: ``/health``, ``/info`` (model id, model type, batch limits), ``POST /embed``
(``{"inputs": [...]}`` -> list of vectors), ``POST /rerank`` (``{"query", "texts"}``
-> ``[{"index", "score"}]``), ``/v1/embeddings``. One model per process; a process
serves embeddings or reranking depending on the model. No text generation.

TEI refuses a request with more inputs than its ``max_client_batch_size`` (413), so
``embed`` sends more inputs as several ``/embed`` calls of at most that many, one after
another, and joins the vectors in input order. The limit is read from ``/info`` once per
runtime address and kept.
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

# TEI's own default for --max-client-batch-size, for an /info that does not say.
DEFAULT_MAX_CLIENT_BATCH_SIZE = 32


class TEIAdapter(LaunchableRuntime):
    kind: ClassVar[str] = "tei"
    config_model = LaunchableConfig

    @staticmethod
    def listen_args(host: str, port: int) -> Sequence[str]:
        return ["--hostname", host, "--port", str(port)]

    _batch_limit: tuple[str, int] | None = None  # (base URL it was read from, limit)

    def info(self) -> dict[str, Any]:
        payload: dict[str, Any] = self._get_json("/info", timeout=5.0)
        return payload

    def max_client_batch_size(self) -> int:
        """How many inputs one ``/embed`` call may carry: ``/info`` read once per address.

        A launched process that moves to another address is asked again. An ``/info``
        that lacks the field (or a bad value) means TEI's default, kept like a read one;
        an ``/info`` that fails raises, and the next call asks again.
        """
        known = self._batch_limit
        if known is not None and known[0] == self._base_url:
            return known[1]
        value = self.info().get("max_client_batch_size")
        limit = value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
        self._batch_limit = (self._base_url, limit or DEFAULT_MAX_CLIENT_BATCH_SIZE)
        return self._batch_limit[1]

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
        body: dict[str, Any] = {"normalize": True, **request.extra}
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        inputs = request.inputs
        size = self.max_client_batch_size() if len(inputs) > 1 else 1
        vectors: list[list[float]] = []
        tokens: int | None = 0
        for start in range(0, max(len(inputs), 1), size):
            batch = inputs[start : start + size]
            response = self._request("POST", "/embed", json_body={**body, "inputs": batch})
            got = [[float(x) for x in vector] for vector in response.json()]
            if len(got) != len(batch):
                raise UpstreamError(f"/embed: {len(got)} vectors for {len(batch)} inputs")
            vectors.extend(got)
            counted = response.headers.get("x-compute-tokens")
            # Usage only when every call reported its tokens: a partial sum would undercount.
            tokens = tokens + int(counted) if tokens is not None and counted and counted.isdigit() else None
        return EmbeddingResponse(
            vectors=vectors,
            model=self.binding.model,
            usage=None if tokens is None else Usage(prompt_tokens=tokens),
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
