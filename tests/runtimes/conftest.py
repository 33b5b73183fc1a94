"""Fixtures: each runtime kind's fake server (in a thread) with an adapter pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from runtimes.adapters._http import HttpAdapter
from runtimes.binding import RuntimeBinding
from runtimes.registry import make_adapter
from tests.fakes.base import FakeRuntime
from tests.fakes.llama_cpp import FakeLlamaCpp
from tests.fakes.ollama import FakeOllama
from tests.fakes.openai_api import FakeOpenAIApi
from tests.fakes.tei import FakeTEI
from tests.fakes.vllm import FakeVLLM

API_KEY = "sk-test-key"


@dataclass(frozen=True)
class FakeSetup:
    fake: type[FakeRuntime]
    args: tuple[str, ...]
    model: str
    binding: dict[str, Any]


SETUPS: dict[str, FakeSetup] = {
    "ollama": FakeSetup(FakeOllama, (), "llama3.2", {}),
    "vllm": FakeSetup(FakeVLLM, ("serve", "org/chat-model"), "org/chat-model", {}),
    "tei": FakeSetup(FakeTEI, ("--model-id", "BAAI/bge-small"), "BAAI/bge-small", {}),
    "llama-cpp": FakeSetup(FakeLlamaCpp, ("-m", "qwen.gguf", "--embeddings"), "qwen.gguf", {}),
    "openai-compatible": FakeSetup(
        FakeOpenAIApi,
        ("--api-key", API_KEY, "--model", "gpt-fake"),
        "gpt-fake",
        {"api_key_env": "HUB_RUNTIME_SECRET_TEST_OPENAI_KEY"},
    ),
}
LLM_KINDS = ["ollama", "vllm", "llama-cpp", "openai-compatible"]
EMBEDDING_KINDS = ["ollama", "vllm", "tei", "llama-cpp", "openai-compatible"]
MANAGED_KINDS = ["ollama", "vllm", "tei", "llama-cpp"]


@dataclass
class Served:
    kind: str
    fake: FakeRuntime
    adapter: Any  # narrowed by each test through the protocol it exercises


def serve(kind: str, monkeypatch: pytest.MonkeyPatch, **state: Any) -> Iterator[Served]:
    setup = SETUPS[kind]
    monkeypatch.setenv("HUB_RUNTIME_SECRET_TEST_OPENAI_KEY", API_KEY)
    fake = setup.fake.serve(*setup.args, **state)
    binding = RuntimeBinding(kind=kind, model=setup.model, base_url=fake.url, **setup.binding)
    adapter: HttpAdapter = make_adapter(binding)
    try:
        yield Served(kind, fake, adapter)
    finally:
        adapter.close()
        fake.stop()


@pytest.fixture
def served(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """Parametrize indirectly with a kind: ``@pytest.mark.parametrize("served", [...], indirect=True)``."""
    yield from serve(request.param, monkeypatch)


@pytest.fixture
def serve_kind(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``serve_kind("vllm", load_time=...)``: a fake with custom state, stopped after the test."""
    running: list[Iterator[Served]] = []

    def start(kind: str, **state: Any) -> Served:
        gen = serve(kind, monkeypatch, **state)
        running.append(gen)
        return next(gen)

    yield start
    for gen in running:
        for _ in gen:
            pass
