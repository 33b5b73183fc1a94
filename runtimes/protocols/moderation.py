"""``ModerationRuntime``: classify text against a content policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Protocol, runtime_checkable

CAPABILITY: Final = "moderation"


@dataclass(frozen=True)
class ModerationRequest:
    inputs: list[str]


@dataclass(frozen=True)
class ModerationResult:
    flagged: bool
    categories: dict[str, bool] = field(default_factory=dict)
    category_scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ModerationResponse:
    """One result per input, in input order."""

    results: list[ModerationResult]
    model: str


@runtime_checkable
class ModerationRuntime(Protocol):
    """Moderate texts with one model."""

    def moderate(self, request: ModerationRequest) -> ModerationResponse:
        """Classify every input.

        Raises ``ModelNotFound``, ``ModelLoading``, ``RuntimeBusy``,
        ``InvalidRequest``, ``RuntimeTimeout`` or ``UpstreamError``.
        """
        ...
