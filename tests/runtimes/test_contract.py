"""Every adapter against its fake: the same contract, whatever the runtime's own protocol."""

from __future__ import annotations

import asyncio

import pytest

from runtimes.binding import RuntimeBinding
from runtimes.errors import ModelNotFound, UpstreamError
from runtimes.protocols import (
    AsyncLLMRuntime,
    ChatChunk,
    ChatRequest,
    EmbeddingRequest,
    HealthState,
    LLMRuntime,
    ManagedRuntime,
    ProviderRuntime,
    RerankRequest,
    RerankRuntime,
    TextEmbeddingRuntime,
)
from runtimes.registry import make_adapter
from tests.runtimes.conftest import EMBEDDING_KINDS, LLM_KINDS, MANAGED_KINDS, SETUPS, Served

HELLO = ChatRequest.of([{"role": "user", "content": "say hello"}], max_tokens=4)


@pytest.mark.parametrize("served", LLM_KINDS, indirect=True)
def test_it_chats_and_returns_an_openai_completion_with_usage(served: Served) -> None:
    assert isinstance(served.adapter, LLMRuntime)
    response = served.adapter.chat(HELLO)

    assert response.body["object"] == "chat.completion"
    assert response.body["choices"][0]["message"]["role"] == "assistant"
    assert response.content
    assert response.finish_reason == "length"
    assert response.usage is not None
    assert response.usage.completion_tokens == 4
    assert response.usage.prompt_tokens > 0
    assert response.upstream


@pytest.mark.parametrize("served", LLM_KINDS, indirect=True)
def test_it_streams_chunks_in_openai_sse_framing_ending_with_done(served: Served) -> None:
    chunks = list(served.adapter.chat_stream(HELLO))

    assert chunks[-1].done
    assert chunks[-1].sse == b"data: [DONE]\n\n"
    assert all(c.sse.startswith(b"data: ") and c.sse.endswith(b"\n\n") for c in chunks)
    assert all(c.data["object"] == "chat.completion.chunk" for c in chunks[:-1] if c.data)
    assert "".join(c.delta for c in chunks) == served.adapter.chat(HELLO).content
    assert [c.finish_reason for c in chunks if c.finish_reason] == ["length"]
    usage = [c.usage for c in chunks if c.usage is not None]
    assert len(usage) == 1
    assert usage[0].completion_tokens == 4


@pytest.mark.parametrize("served", ["vllm", "llama-cpp", "openai-compatible"], indirect=True)
def test_it_passes_sse_runtimes_bytes_through_verbatim(served: Served) -> None:
    chunks = list(served.adapter.chat_stream(HELLO))

    assert all(c.sse == c.upstream for c in chunks)
    assert served.adapter.chat(HELLO).passthrough


@pytest.mark.parametrize("served", LLM_KINDS, indirect=True)
def test_it_streams_from_an_event_loop(served: Served) -> None:
    assert isinstance(served.adapter, AsyncLLMRuntime)

    async def collect() -> list[ChatChunk]:
        try:
            return [chunk async for chunk in served.adapter.achat_stream(HELLO)]
        finally:
            await served.adapter.aclose()

    chunks = asyncio.run(collect())

    assert chunks[-1].done
    assert "".join(c.delta for c in chunks)


@pytest.mark.parametrize("served", LLM_KINDS, indirect=True)
def test_it_sends_the_bindings_model_name_and_keeps_the_callers_fields(served: Served) -> None:
    served.adapter.chat(ChatRequest.of([{"role": "user", "content": "x"}], max_tokens=2, seed=7))

    sent = served.fake.state.bodies[-1]
    assert sent["model"] == SETUPS[served.kind].model
    assert 7 in (sent.get("seed"), (sent.get("options") or {}).get("seed"))


@pytest.mark.parametrize("served", LLM_KINDS, indirect=True)
def test_a_runtime_dying_mid_stream_raises_upstream_error(served: Served) -> None:
    served.fake.state.crash = True
    stream = served.adapter.chat_stream(HELLO)

    with pytest.raises(UpstreamError):
        list(stream)


@pytest.mark.parametrize("served", EMBEDDING_KINDS, indirect=True)
def test_it_embeds_every_input_in_order(served: Served) -> None:
    assert isinstance(served.adapter, TextEmbeddingRuntime)
    response = served.adapter.embed(EmbeddingRequest(inputs=["alpha beta", "gamma", "alpha beta"]))

    assert len(response.vectors) == 3
    assert response.dimension == 8
    assert response.vectors[0] == response.vectors[2] != response.vectors[1]
    assert response.as_openai()["data"][1]["index"] == 1


@pytest.mark.parametrize("served", EMBEDDING_KINDS, indirect=True)
def test_a_crashing_runtime_raises_upstream_error_on_embed(served: Served) -> None:
    served.fake.state.crash = True

    with pytest.raises(UpstreamError):
        served.adapter.embed(EmbeddingRequest(inputs=["x"]))


@pytest.mark.parametrize("served", list(SETUPS), indirect=True)
def test_it_answers_as_a_provider(served: Served) -> None:
    assert isinstance(served.adapter, ProviderRuntime)

    assert served.adapter.check_reachable().reachable
    assert SETUPS[served.kind].model in [m.name.removesuffix(":latest") for m in served.adapter.list_models()]
    assert served.adapter.validate_credentials().valid
    assert served.adapter.config_schema()["properties"]["model"]


@pytest.mark.parametrize("kind", list(SETUPS))
def test_it_reports_an_unreachable_server_without_raising(kind: str) -> None:
    adapter = make_adapter(RuntimeBinding(kind=kind, model="m", base_url="http://127.0.0.1:9"))
    assert isinstance(adapter, ProviderRuntime)

    assert not adapter.check_reachable().reachable
    if isinstance(adapter, ManagedRuntime):
        assert adapter.health().state is HealthState.DOWN
        assert not adapter.is_ready()


@pytest.mark.parametrize("served", MANAGED_KINDS, indirect=True)
def test_it_ensures_a_running_server_is_ready_and_reports_health(served: Served) -> None:
    assert isinstance(served.adapter, ManagedRuntime)
    target = served.adapter.ensure_running()

    assert target.base_url == served.fake.url
    assert target.model == SETUPS[served.kind].model
    assert served.adapter.is_ready()
    assert served.adapter.health().state is HealthState.OK
    assert served.adapter.metadata().kind == served.kind


@pytest.mark.parametrize("served", ["ollama", "vllm", "openai-compatible"], indirect=True)
def test_an_unknown_model_is_model_not_found(served: Served) -> None:
    binding = RuntimeBinding(
        kind=served.kind,
        model="no-such-model",
        base_url=served.fake.url,
        api_key_env=served.adapter.binding.api_key_env,
    )
    adapter = make_adapter(binding)

    with pytest.raises(ModelNotFound) as raised:
        adapter.chat(HELLO)  # type: ignore[attr-defined]
    assert raised.value.http_status == 404


@pytest.mark.parametrize("served", ["tei"], indirect=True)
def test_it_reranks_best_first(served: Served) -> None:
    assert isinstance(served.adapter, RerankRuntime)
    response = served.adapter.rerank(
        RerankRequest(query="red apple", documents=["blue sky", "a red apple", "red car"], top_n=2)
    )

    assert [r.index for r in response.results] == [1, 2]
    assert response.results[0].score >= response.results[1].score


@pytest.mark.parametrize("served", ["ollama", "llama-cpp"], indirect=True)
def test_it_resends_once_when_the_server_closed_the_connection_unanswered(served: Served) -> None:
    served.fake.state.drop_next = 1
    assert served.adapter.embed(EmbeddingRequest(inputs=["x"])).vectors

    served.fake.state.drop_next = 1
    assert list(served.adapter.chat_stream(HELLO))[-1].done

    served.fake.state.drop_next = 2
    with pytest.raises(UpstreamError):
        served.adapter.embed(EmbeddingRequest(inputs=["x"]))
