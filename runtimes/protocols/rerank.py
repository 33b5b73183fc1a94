"""``RerankRuntime``: score documents against a query."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

CAPABILITY: Final = "rerank"


@dataclass(frozen=True)
class RerankRequest:
    query: str
    documents: list[str]
    top_n: int | None = None


@dataclass(frozen=True)
class RerankResult:
    index: int  # position in ``RerankRequest.documents``
    score: float


@dataclass(frozen=True)
class RerankResponse:
    """Results, best first."""

    results: list[RerankResult]
    model: str


@runtime_checkable
class RerankRuntime(Protocol):
    """Rank documents by relevance with one model."""

    def rerank(self, request: RerankRequest) -> RerankResponse:
        """Score every document (or the best ``top_n``), best first.

        Raises like ``TextEmbeddingRuntime.embed``.
        """
        ...
