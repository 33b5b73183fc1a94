"""TEI takes at most ``max_client_batch_size`` inputs per call; the adapter splits larger requests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from runtimes.adapters.tei import TEIAdapter
from runtimes.binding import RuntimeBinding
from runtimes.protocols import EmbeddingRequest
from tests.fakes.base import FakeRuntime, vector
from tests.fakes.tei import FakeTEI

TEXTS = [f"text number {i}" for i in range(10)]  # three words each


def tei_with(*args: str, **state: Any) -> Iterator[tuple[FakeRuntime, TEIAdapter]]:
    fake = FakeTEI.serve("--model-id", "BAAI/bge-small", *args, **state)
    adapter = TEIAdapter(RuntimeBinding(kind="tei", model="BAAI/bge-small", base_url=fake.url))
    try:
        yield fake, adapter
    finally:
        adapter.close()
        fake.stop()


@pytest.fixture
def tei() -> Iterator[tuple[FakeRuntime, TEIAdapter]]:
    yield from tei_with()  # the fake's limit: 4


def batch_sizes(fake: FakeRuntime) -> list[int]:
    return [len(body["inputs"]) for body in fake.state.bodies]


def test_the_fake_refuses_more_inputs_than_its_limit_like_tei(tei: tuple[FakeRuntime, TEIAdapter]) -> None:
    fake, _ = tei
    info = httpx.get(fake.url + "/info").json()
    refused = httpx.post(fake.url + "/embed", json={"inputs": ["x"] * 5})

    assert info["max_client_batch_size"] == 4
    assert refused.status_code == 413
    assert refused.json() == {
        "error": "batch size 5 > maximum allowed batch size 4",
        "error_type": "Validation",
    }


def test_more_inputs_than_the_limit_go_in_several_calls_joined_in_order(
    tei: tuple[FakeRuntime, TEIAdapter],
) -> None:
    fake, adapter = tei
    response = adapter.embed(EmbeddingRequest(inputs=TEXTS))

    assert batch_sizes(fake) == [4, 4, 2]
    assert [body["inputs"] for body in fake.state.bodies] == [TEXTS[:4], TEXTS[4:8], TEXTS[8:]]
    assert response.vectors == [pytest.approx(vector(text, 8)) for text in TEXTS]
    assert response.usage is not None
    assert response.usage.prompt_tokens == 30  # the tokens of every call, summed


def test_info_is_read_once_per_adapter(tei: tuple[FakeRuntime, TEIAdapter]) -> None:
    fake, adapter = tei
    adapter.embed(EmbeddingRequest(inputs=TEXTS))
    adapter.embed(EmbeddingRequest(inputs=TEXTS[:6]))
    adapter.embed(EmbeddingRequest(inputs=["one alone"]))  # one input needs no limit

    assert fake.state.extra["info_requests"] == 1
    assert batch_sizes(fake) == [4, 4, 2, 4, 2, 1]


def test_an_info_without_the_limit_means_teis_default_of_32() -> None:
    for fake, adapter in tei_with("--max-client-batch-size", "40", extra={"info_without_batch_limit": True}):
        response = adapter.embed(EmbeddingRequest(inputs=[f"t{i}" for i in range(40)]))

        assert batch_sizes(fake) == [32, 8]
        assert len(response.vectors) == 40


def test_a_launched_runtime_at_a_new_address_is_asked_again() -> None:
    for first, adapter in tei_with():
        adapter.embed(EmbeddingRequest(inputs=TEXTS))
        for second, _ in tei_with("--max-client-batch-size", "3"):
            adapter._base_url = second.url  # as ensure_running does after a relaunch
            adapter.embed(EmbeddingRequest(inputs=TEXTS))

            assert batch_sizes(first) == [4, 4, 2]
            assert batch_sizes(second) == [3, 3, 3, 1]
