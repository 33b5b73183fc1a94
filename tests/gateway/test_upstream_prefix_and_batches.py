"""Through the real gateway: an upstream API under any path prefix, and TEI's batch limit.

The openai SDK talks to a hub server; behind it, a fake OpenAI-compatible API mounted under
a provider's prefix (it answers 404 anywhere else) and a fake TEI that refuses more than 4
inputs per call, as TEI does past its ``max_client_batch_size``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.base import FakeRuntime, vector
from tests.fakes.openai_api import FakeOpenAIApi
from tests.gateway.conftest import embedding_document
from tests.gateway.test_openai_sdk import client
from tests.gateway.test_upstream_key import hosted

pytestmark = pytest.mark.slow


@pytest.fixture(params=["/v1beta/openai", "/openai/v1"])
def prefixed(request: pytest.FixtureRequest) -> Iterator[FakeRuntime]:
    fake = FakeOpenAIApi.serve("--model", "gpt-fake", "--prefix", request.param, "--slots", "4")
    yield fake
    fake.stop()


def test_chat_streamed_chat_and_embeddings_reach_an_api_under_a_path_prefix(
    hub: Any, prefixed: FakeRuntime, make_live: Any, make_token: Any
) -> None:
    document = hosted("prefixed-api", prefixed.url)
    document["runtime"]["base_url"] = prefixed.url + prefixed.server.options.prefix
    make_live(document)  # the validator accepts the prefix
    sdk = client(hub, make_token())
    messages: Any = [{"role": "user", "content": "hello"}]

    plain = sdk.chat.completions.create(model="prefixed-api", messages=messages, max_tokens=3)
    streamed = sdk.chat.completions.create(model="prefixed-api", messages=messages, max_tokens=3, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    embedded = sdk.embeddings.create(model="prefixed-api", input=["a", "b"])

    assert plain.choices[0].message.content == "tok0 tok1 tok2 "
    assert text == "tok0 tok1 tok2 "
    assert len(embedded.data) == 2
    assert prefixed.state.requests == 3


def test_embeddings_past_teis_batch_limit_come_back_whole_and_in_order(
    hub: Any, tei: Any, make_live: Any, make_token: Any, usage_events: Any
) -> None:
    make_live(embedding_document("batched-tei", tei.url))
    texts = [f"text number {i}" for i in range(10)]

    result = client(hub, make_token()).embeddings.create(model="batched-tei", input=texts)

    assert [len(body["inputs"]) for body in tei.state.bodies] == [4, 4, 2]
    assert [item.index for item in result.data] == list(range(10))
    assert [item.embedding for item in result.data] == [pytest.approx(vector(t, 8)) for t in texts]
    assert result.usage.prompt_tokens == 30
    [event] = usage_events()
    assert event["input_count"] == "10"
    assert event["prompt_tokens"] == "30"
