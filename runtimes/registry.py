"""Runtime kind -> adapter class, and the capabilities each kind serves.

Provisional table until the adapters land; the adapter issue derives it from the
classes (which capability protocols each implements) behind the same functions.
"""

from __future__ import annotations

_CAPABILITIES: dict[str, frozenset[str]] = {
    "ollama": frozenset({"llm", "text_embedding"}),
    "vllm": frozenset({"llm", "text_embedding"}),
    "tei": frozenset({"text_embedding", "rerank"}),
    "llama-cpp": frozenset({"llm", "text_embedding"}),
    "openai-compatible": frozenset({"llm", "text_embedding"}),
}
_LAUNCHABLE = frozenset({"vllm", "tei", "llama-cpp"})


def runtime_kinds() -> tuple[str, ...]:
    return tuple(_CAPABILITIES)


def capabilities_of(kind: str) -> frozenset[str]:
    """Capability names the kind's adapter implements; ``KeyError`` for an unknown kind."""
    return _CAPABILITIES[kind]


def is_launchable(kind: str) -> bool:
    return kind in _LAUNCHABLE
