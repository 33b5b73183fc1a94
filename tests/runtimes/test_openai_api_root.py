"""An ``openai-compatible`` base URL names the API root, whatever prefix the provider uses."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from runtimes.adapters.openai_compatible import OpenAICompatibleAdapter, api_root
from runtimes.binding import RuntimeBinding
from runtimes.errors import ModelNotFound
from runtimes.protocols import ChatRequest, EmbeddingRequest
from runtimes.upstream import base_url_problem
from tests.fakes.base import FakeRuntime
from tests.fakes.openai_api import FakeOpenAIApi

HELLO = ChatRequest.of([{"role": "user", "content": "hi"}], max_tokens=2)


@pytest.mark.parametrize(
    ("base_url", "root"),
    [
        ("https://api.openai.com", "https://api.openai.com/v1"),
        ("https://api.openai.com/", "https://api.openai.com/v1"),
        ("https://api.openai.com/v1", "https://api.openai.com/v1"),
        ("https://api.openai.com/v1/", "https://api.openai.com/v1"),
        (
            "https://generativelanguage.googleapis.com/v1beta/openai",
            "https://generativelanguage.googleapis.com/v1beta/openai",
        ),
        ("http://127.0.0.1:8000/openai/v1", "http://127.0.0.1:8000/openai/v1"),
    ],
)
def test_a_base_url_path_is_the_api_root_and_a_bare_host_gets_v1(base_url: str, root: str) -> None:
    assert base_url_problem(base_url) is None
    assert api_root(base_url) == root
    adapter = OpenAICompatibleAdapter(RuntimeBinding(kind="openai-compatible", model="m", base_url=base_url))
    try:
        assert adapter.endpoint_url("/v1/chat/completions") == root + "/chat/completions"
        assert adapter.endpoint_url("/v1/embeddings") == root + "/embeddings"
    finally:
        adapter.close()


def mounted(prefix: str) -> Iterator[FakeRuntime]:
    fake = FakeOpenAIApi.serve("--model", "gpt-fake", "--prefix", prefix, "--slots", "4")
    yield fake
    fake.stop()


@pytest.fixture(params=["/v1beta/openai", "/openai/v1", "/v1"])
def prefixed(request: pytest.FixtureRequest) -> Iterator[FakeRuntime]:
    yield from mounted(request.param)


def adapter_for(base_url: str) -> OpenAICompatibleAdapter:
    return OpenAICompatibleAdapter(
        RuntimeBinding(kind="openai-compatible", model="gpt-fake", base_url=base_url)
    )


@pytest.mark.parametrize("slash", ["", "/"])
def test_chat_streamed_chat_embeddings_and_models_go_under_the_prefix(
    prefixed: FakeRuntime, slash: str
) -> None:
    adapter = adapter_for(prefixed.url + prefixed.server.options.prefix + slash)

    async def stream() -> list[bool]:
        try:
            return [chunk.done async for chunk in adapter.achat_stream(HELLO)]
        finally:
            await adapter.aclose()

    try:
        assert adapter.chat(HELLO).content == "tok0 tok1 "
        assert list(adapter.chat_stream(HELLO))[-1].done
        assert len(adapter.embed(EmbeddingRequest(inputs=["a", "b"])).vectors) == 2
        assert [m.name for m in adapter.list_models()] == ["gpt-fake"]
        assert adapter.validate_credentials().valid
        assert adapter.check_reachable().reachable
        assert asyncio.run(stream())[-1]  # last: closing the async client closes both
    finally:
        adapter.close()
    assert prefixed.state.requests == 4  # three chats and one embedding reached the model


def test_a_bare_host_is_served_under_v1_and_not_under_another_prefix() -> None:
    for fake in mounted("/v1"):
        adapter = adapter_for(fake.url)
        try:
            assert adapter.chat(HELLO).content
        finally:
            adapter.close()
    for fake in mounted("/v1beta/openai"):
        adapter = adapter_for(fake.url)
        try:
            with pytest.raises(ModelNotFound, match="outside the API root"):
                adapter.chat(HELLO)
        finally:
            adapter.close()
