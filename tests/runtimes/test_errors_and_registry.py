"""The error taxonomy and the kind registry."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from runtimes import registry
from runtimes.errors import (
    ExecutableNotFound,
    HealthCheckFailed,
    InternalError,
    InvalidRequest,
    LaunchRefused,
    ModelFileNotFound,
    ModelLoading,
    ModelNotFound,
    RuntimeAdapterError,
    RuntimeBusy,
    RuntimeTimeout,
    SpawnFailed,
    UpstreamError,
)
from runtimes.protocols import LLMRuntime, ManagedRuntime, TextEmbeddingRuntime

RUNTIMES = Path(__file__).resolve().parents[2] / "runtimes"


@pytest.mark.parametrize(
    ("error", "status", "retryable", "code"),
    [
        (ModelNotFound, 404, False, "model_not_found"),
        (ModelFileNotFound, 404, False, "model_file_not_found"),
        (ModelLoading, 503, True, "model_loading"),
        (RuntimeBusy, 429, True, "concurrency_limit"),
        (InvalidRequest, 400, False, "invalid_request"),
        (SpawnFailed, 502, True, "spawn_failed"),
        (LaunchRefused, 502, False, "launch_refused"),
        (ExecutableNotFound, 502, False, "executable_not_found"),
        (HealthCheckFailed, 502, False, "health_check_failed"),
        (UpstreamError, 502, False, "upstream_error"),
        (RuntimeTimeout, 504, True, "upstream_timeout"),
        (InternalError, 500, False, "internal_error"),
    ],
)
def test_each_error_knows_its_status_retryability_and_code(
    error: type[RuntimeAdapterError], status: int, retryable: bool, code: str
) -> None:
    raised = error("it went wrong", retry_after=2.5)

    assert isinstance(raised, RuntimeAdapterError)
    assert (raised.http_status, raised.retryable, raised.code) == (status, retryable, code)
    assert raised.as_openai_error()["error"] == {"message": "it went wrong", "type": code, "code": code}
    assert raised.response_headers() == ({"Retry-After": "3"} if retryable else {})


def test_retry_after_is_at_least_one_second() -> None:
    assert ModelLoading("loading").response_headers() == {"Retry-After": "1"}
    assert RuntimeBusy("full", retry_after=0.2).response_headers() == {"Retry-After": "1"}


def test_it_lists_the_five_runtime_kinds() -> None:
    assert set(registry.runtime_kinds()) == {"ollama", "vllm", "tei", "llama-cpp", "openai-compatible"}


@pytest.mark.parametrize(
    ("kind", "capabilities", "launchable", "managed"),
    [
        ("ollama", {"llm", "text_embedding"}, False, True),
        ("vllm", {"llm", "text_embedding", "rerank"}, True, True),
        ("tei", {"text_embedding", "rerank"}, True, True),
        ("llama-cpp", {"llm", "text_embedding", "rerank"}, True, True),
        (
            "openai-compatible",
            {"llm", "text_embedding", "rerank", "speech_to_text", "tts", "moderation"},
            False,
            False,
        ),
    ],
)
def test_capabilities_are_read_off_the_adapter_class(
    kind: str, capabilities: set[str], launchable: bool, managed: bool
) -> None:
    assert registry.capabilities_of(kind) == capabilities
    assert registry.is_launchable(kind) is launchable
    assert registry.is_managed(kind) is managed


def test_a_class_gains_a_capability_by_implementing_its_protocol_and_nothing_else() -> None:
    class ChatOnly:
        def chat(self, request: object) -> object: ...
        def chat_stream(self, request: object) -> object: ...

    assert registry.capabilities_of_class(ChatOnly) == {"llm"}
    assert issubclass(ChatOnly, LLMRuntime)
    assert not issubclass(ChatOnly, TextEmbeddingRuntime)
    assert not issubclass(ChatOnly, ManagedRuntime)


def test_an_unknown_kind_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        registry.capabilities_of("triton")
    with pytest.raises(KeyError):
        registry.adapter_class("triton")


def test_the_openai_compatible_adapter_has_no_lifecycle_methods() -> None:
    cls = registry.adapter_class("openai-compatible")

    assert not any(hasattr(cls, name) for name in ("ensure_running", "stop", "sleep", "health"))


def test_no_code_in_runtimes_branches_on_the_kind_string() -> None:
    offenders = []
    for path in RUNTIMES.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare) and any(
                isinstance(side, ast.Attribute) and side.attr == "kind"
                for side in [node.left, *node.comparators]
            ):
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


def test_protocols_import_nothing_from_django() -> None:
    for path in (RUNTIMES / "protocols").glob("*.py"):
        imports = [
            node.module if isinstance(node, ast.ImportFrom) else alias.name
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in getattr(node, "names", [])
        ]
        assert not [name for name in imports if name and name.startswith("django")], path.name
