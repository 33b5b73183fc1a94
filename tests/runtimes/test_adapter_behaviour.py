"""What each runtime kind does its own way: loading, sleeping, busy slots, credentials."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from runtimes.adapters.llama_cpp import LlamaCppAdapter
from runtimes.adapters.ollama import OllamaAdapter
from runtimes.adapters.openai_compatible import OpenAICompatibleAdapter
from runtimes.binding import RuntimeBinding
from runtimes.errors import ModelLoading, RuntimeBusy, UpstreamError
from runtimes.protocols import ChatRequest, EmbeddingRequest, HealthState
from runtimes.upstream import UpstreamSecrets
from tests.fakes.llama_cpp import FakeLlamaCpp
from tests.fakes.ollama import FakeOllama
from tests.runtimes.conftest import API_KEY

HELLO = ChatRequest.of([{"role": "user", "content": "hi"}], max_tokens=2)


def test_ollama_loads_a_model_on_ensure_running_and_unloads_it_on_stop(serve_kind: Any) -> None:
    served = serve_kind("ollama", load_time=0.05)
    adapter = served.adapter
    assert adapter.health().state is HealthState.DOWN

    target = adapter.ensure_running()

    assert target.just_started
    assert target.context_length == 4096
    assert adapter.is_ready()
    assert served.fake.state.extra["loaded"]["llama3.2:latest"]["keep_alive"] == -1
    assert not adapter.ensure_running().just_started

    adapter.sleep()

    assert not adapter.is_ready()
    adapter.stop()  # idempotent


def test_ollama_keeps_the_model_loaded_on_every_request(serve_kind: Any) -> None:
    served = serve_kind("ollama")
    served.adapter.chat(HELLO)
    list(served.adapter.chat_stream(HELLO))

    assert {body["keep_alive"] for body in served.fake.state.bodies} == {-1}


def test_ollama_translates_openai_options(serve_kind: Any) -> None:
    served = serve_kind("ollama")
    served.adapter.chat(ChatRequest.of([{"role": "user", "content": "x"}], max_tokens=3, temperature=0.1))

    assert served.fake.state.bodies[-1]["options"] == {"num_predict": 3, "temperature": 0.1}


def test_ollama_reports_tokens_per_second_from_eval_durations(serve_kind: Any) -> None:
    served = serve_kind("ollama")

    assert served.adapter.chat(HELLO).tokens_per_second == pytest.approx(50.0)
    assert [c.tokens_per_second for c in served.adapter.chat_stream(HELLO) if c.tokens_per_second]


def test_ollama_loads_an_embedding_model_that_refuses_generate() -> None:
    with FakeOllama.serve() as fake:
        adapter = OllamaAdapter(RuntimeBinding(kind="ollama", model="nomic-embed-text", base_url=fake.url))

        assert adapter.ensure_running().just_started
        assert adapter.metadata().embedding_dimension == 8
        assert adapter.embed(EmbeddingRequest(inputs=["a"])).dimension == 8


def test_llama_cpp_health_is_down_while_loading_and_calls_are_model_loading(serve_kind: Any) -> None:
    served = serve_kind("llama-cpp", load_time=600)

    assert served.adapter.health().state is HealthState.DOWN
    assert not served.adapter.is_ready()
    with pytest.raises(ModelLoading) as raised:
        served.adapter.chat(HELLO)
    assert raised.value.retryable
    assert raised.value.http_status == 503
    assert raised.value.response_headers()["Retry-After"]


def test_llama_cpp_waits_for_an_external_server_that_is_loading(serve_kind: Any) -> None:
    served = serve_kind("llama-cpp", load_time=0.3)

    target = served.adapter.ensure_running()

    assert served.adapter.is_ready()
    assert target.context_length == 4096


def test_a_runtime_with_every_slot_in_use_is_busy_not_down(serve_kind: Any) -> None:
    gate = threading.Event()
    served = serve_kind("llama-cpp", gate=gate)
    state = served.fake.state
    worker = threading.Thread(target=lambda: served.adapter.embed(EmbeddingRequest(inputs=["x"])))
    worker.start()
    try:
        while state.inflight == 0:  # the one slot is now held open by the gate
            threading.Event().wait(0.01)
        assert served.adapter.health().state is HealthState.BUSY
    finally:
        gate.set()
        worker.join()
    assert state.max_inflight == 1
    assert served.adapter.health().state is HealthState.OK


def test_llama_cpp_reads_tokens_per_second_from_timings(serve_kind: Any) -> None:
    served = serve_kind("llama-cpp")

    assert served.adapter.chat(HELLO).tokens_per_second == 100.0


def test_llama_cpp_without_embeddings_flag_rejects_embed() -> None:
    with FakeLlamaCpp.serve("-m", "x.gguf") as fake:
        adapter = LlamaCppAdapter(RuntimeBinding(kind="llama-cpp", model="x.gguf", base_url=fake.url))
        with pytest.raises(UpstreamError, match="--embeddings"):
            adapter.embed(EmbeddingRequest(inputs=["x"]))


def test_vllm_sleeps_and_wakes_through_its_sleep_endpoints(serve_kind: Any) -> None:
    served = serve_kind("vllm")
    adapter = served.adapter

    adapter.sleep()

    assert served.fake.state.extra["sleep_level"] == "1"
    assert adapter.health().state is HealthState.DOWN
    assert "sleeping" in adapter.health().detail
    assert not adapter.is_ready()

    target = adapter.ensure_running()

    assert target.just_started
    assert target.context_length == 8192
    assert adapter.health().state is HealthState.OK
    assert adapter.chat(HELLO).content


def test_vllm_is_busy_when_requests_wait_for_a_slot(serve_kind: Any) -> None:
    served = serve_kind("vllm")
    served.fake.state.inflight = 2  # one running, one waiting on a one-slot server

    assert served.adapter.health().state is HealthState.BUSY

    served.fake.state.inflight = 0


def test_tei_metadata_measures_the_embedding_dimension(serve_kind: Any) -> None:
    metadata = serve_kind("tei").adapter.metadata()

    assert metadata.embedding_dimension == 8
    assert metadata.context_length == 512
    assert metadata.extra["max_client_batch_size"] == 4  # the fake's; TEI's default is 32


def test_tei_reports_token_usage_from_its_headers(serve_kind: Any) -> None:
    response = serve_kind("tei").adapter.embed(EmbeddingRequest(inputs=["one two", "three"]))

    assert response.usage is not None
    assert response.usage.prompt_tokens == 3


def test_openai_compatible_sends_the_key_from_the_named_env_var(serve_kind: Any) -> None:
    assert serve_kind("openai-compatible").adapter.validate_credentials().valid


def test_openai_compatible_reads_the_key_from_a_file(serve_kind: Any, tmp_path: Path) -> None:
    served = serve_kind("openai-compatible")
    key_file = tmp_path / "key"
    key_file.write_text(API_KEY + "\n")
    binding = RuntimeBinding(
        kind="openai-compatible",
        model="gpt-fake",
        base_url=served.fake.url + "/v1",
        api_key_file=str(key_file),
    )
    adapter = OpenAICompatibleAdapter(binding, secrets=UpstreamSecrets(tmp_path))

    assert adapter.validate_credentials().valid
    assert adapter.chat(HELLO).content


def test_openai_compatible_reports_a_wrong_or_missing_key(
    serve_kind: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = serve_kind("openai-compatible")
    url = served.fake.url
    monkeypatch.setenv("HUB_RUNTIME_SECRET_WRONG_KEY", "sk-wrong")

    wrong = OpenAICompatibleAdapter(
        RuntimeBinding(
            kind="openai-compatible",
            model="gpt-fake",
            base_url=url,
            api_key_env="HUB_RUNTIME_SECRET_WRONG_KEY",
        )
    )
    missing = OpenAICompatibleAdapter(
        RuntimeBinding(
            kind="openai-compatible", model="gpt-fake", base_url=url, api_key_env="HUB_RUNTIME_SECRET_UNSET"
        )
    )

    assert not wrong.validate_credentials().valid
    assert not missing.validate_credentials().valid
    assert wrong.check_reachable().reachable  # a 401 still proves the API is there


def test_openai_compatible_rate_limit_is_runtime_busy_with_retry_after(serve_kind: Any) -> None:
    served = serve_kind("openai-compatible")
    served.fake.state.slots = 0

    with pytest.raises(RuntimeBusy) as raised:
        served.adapter.chat(HELLO)
    assert raised.value.http_status == 429
    assert raised.value.response_headers() == {"Retry-After": "2"}
