"""``TextEmbeddingRuntime``: text in, vectors out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Protocol, runtime_checkable

from runtimes.protocols.common import JSONObject, Usage

CAPABILITY: Final = "text_embedding"


@dataclass(frozen=True)
class EmbeddingRequest:
    """Texts to embed, in order. ``extra`` carries further OpenAI body fields."""

    inputs: list[str]
    dimensions: int | None = None
    extra: JSONObject = field(default_factory=dict)


@dataclass(frozen=True)
class EmbeddingResponse:
    """One vector per input, in input order."""

    vectors: list[list[float]]
    model: str
    usage: Usage | None = None

    @property
    def dimension(self) -> int:
        return len(self.vectors[0]) if self.vectors else 0

    def as_openai(self) -> JSONObject:
        """The OpenAI ``/v1/embeddings`` response for these vectors."""
        usage = self.usage or Usage()
        return {
            "object": "list",
            "model": self.model,
            "data": [
                {"object": "embedding", "index": i, "embedding": vector}
                for i, vector in enumerate(self.vectors)
            ],
            "usage": {"prompt_tokens": usage.prompt_tokens, "total_tokens": usage.prompt_tokens},
        }


@runtime_checkable
class TextEmbeddingRuntime(Protocol):
    """Embed texts with one model."""

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """Embed every input; all-or-nothing.

        Raises ``ModelNotFound``, ``ModelLoading``, ``RuntimeBusy``,
        ``InvalidRequest``, ``RuntimeTimeout`` or ``UpstreamError``.
        """
        ...
