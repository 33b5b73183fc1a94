"""Live rates: known usage events, a fixed clock, exact numbers."""

from __future__ import annotations

import threading
import time

import pytest
from redis import Redis

from runtimes.leases import Leases
from runtimes.metrics.live import (
    INDEX_PRUNE_AFTER_S,
    LIVE_INDEX_KEY,
    WINDOW_S,
    fold_live,
    live_rates,
)
from runtimes.usage import UsageEvent, publish

NOW = 1_700_000_000.0  # fixed clock: the window is the seconds NOW-59 … NOW


def llm(
    at: float, *, duration_ms: float, completion: int = 0, gen_ms: float | None = None, status: int = 200
) -> UsageEvent:
    """An LLM request that finished at ``at``."""
    return UsageEvent(
        asset_id="qwen",
        interface="llm-runtime",
        started_at=at - duration_ms / 1000,
        duration_ms=duration_ms,
        status=status,
        prompt_tokens=10,
        completion_tokens=completion,
        generation_ms=gen_ms,
    )


def embed(at: float, *, inputs: int, duration_ms: float = 20.0, asset_id: str = "bge") -> UsageEvent:
    return UsageEvent(
        asset_id=asset_id,
        interface="embedding-runtime",
        started_at=at - duration_ms / 1000,
        duration_ms=duration_ms,
        status=200,
        prompt_tokens=inputs * 5,
        input_count=inputs,
    )


def test_it_computes_exact_llm_rates_over_the_window(redis_client: Redis) -> None:
    publish(
        redis_client,
        [
            llm(NOW - 1, duration_ms=100, completion=30, gen_ms=500),
            llm(NOW - 10, duration_ms=200, completion=60, gen_ms=1000),
            llm(NOW - 30, duration_ms=300, completion=90, gen_ms=1500),
            llm(NOW - 59, duration_ms=400, completion=0, status=503),
            llm(NOW - 60.5, duration_ms=999, completion=600, gen_ms=100),  # left the window
            llm(NOW + 1, duration_ms=999, completion=600, gen_ms=100),  # after now
        ],
    )

    rates = live_rates(["qwen"], now=NOW, client=redis_client)["qwen"]

    assert rates.requests == 4
    assert rates.qps == pytest.approx(4 / WINDOW_S)
    assert rates.output_tokens_per_s == pytest.approx(180 / WINDOW_S)
    assert rates.gen_tokens_per_s == pytest.approx(180 / 3.0)  # 180 tokens in 3 s of generation
    assert rates.latency_p50_ms == 200
    assert rates.latency_p95_ms == 400
    assert rates.errors == 1
    assert rates.error_rate == pytest.approx(0.25)
    assert rates.inputs_per_s == 0
    assert rates.batch_size is None
    assert set(rates.interfaces) == {"llm-runtime"}


def test_it_computes_embedding_throughput_and_batch_size(redis_client: Redis) -> None:
    publish(redis_client, [embed(NOW - 5, inputs=32), embed(NOW - 6, inputs=16), embed(NOW - 7, inputs=12)])

    rates = live_rates(["bge"], now=NOW, client=redis_client)["bge"]

    assert rates.qps == pytest.approx(3 / WINDOW_S)
    assert rates.inputs_per_s == pytest.approx(60 / WINDOW_S)
    assert rates.batch_size == pytest.approx(20.0)
    assert rates.output_tokens_per_s == 0
    assert rates.gen_tokens_per_s is None
    assert rates.error_rate == 0


def test_it_splits_an_asset_that_serves_two_interfaces(redis_client: Redis) -> None:
    publish(
        redis_client,
        [
            llm(NOW - 2, duration_ms=50, completion=12, gen_ms=100),
            embed(NOW - 3, inputs=8, asset_id="qwen"),
        ],
    )

    rates = live_rates(["qwen"], now=NOW, client=redis_client)["qwen"]

    assert rates.requests == 2
    assert rates.interfaces["llm-runtime"].requests == 1
    assert rates.interfaces["llm-runtime"].output_tokens_per_s == pytest.approx(12 / WINDOW_S)
    assert rates.interfaces["embedding-runtime"].inputs_per_s == pytest.approx(8 / WINDOW_S)
    assert rates.interfaces["embedding-runtime"].latency_p50_ms == 20


def test_it_answers_none_not_zero_for_what_it_cannot_know(redis_client: Redis) -> None:
    rates = live_rates(["idle"], now=NOW, client=redis_client)["idle"]

    assert rates.requests == 0
    assert rates.qps == 0
    assert rates.latency_p50_ms is None
    assert rates.latency_p95_ms is None
    assert rates.error_rate is None
    assert rates.gen_tokens_per_s is None
    assert rates.active_sessions == 0


def test_it_counts_each_event_once_however_often_it_is_folded(redis_client: Redis) -> None:
    publish(redis_client, [llm(NOW - i, duration_ms=10, completion=1) for i in range(50)])

    threads = [threading.Thread(target=fold_live, args=(redis_client,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first = live_rates(["qwen"], now=NOW, client=redis_client)["qwen"]
    publish(redis_client, [llm(NOW, duration_ms=10, completion=1)])
    second = live_rates(["qwen"], now=NOW, client=redis_client)["qwen"]

    assert first.requests == 50
    assert second.requests == 51
    assert second.output_tokens_per_s == pytest.approx(51 / WINDOW_S)


def test_it_reports_live_leases_as_active_sessions(redis_client: Redis) -> None:
    leases = Leases(redis_client)
    assert leases.acquire("qwen", 4, 30)
    assert leases.acquire("qwen", 4, 30)

    rates = live_rates(["qwen", "bge"], now=NOW, client=redis_client)

    assert rates["qwen"].active_sessions == 2
    assert rates["bge"].active_sessions == 0


def test_it_skips_malformed_entries(redis_client: Redis) -> None:
    redis_client.xadd("hub:usage", {"asset_id": "", "interface": "llm-runtime"})
    redis_client.xadd("hub:usage", {"asset_id": "qwen", "duration_ms": "not a number"})
    publish(redis_client, [llm(NOW - 1, duration_ms=10, completion=1)])

    assert live_rates(["qwen"], now=NOW, client=redis_client)["qwen"].requests == 1


def test_it_answers_no_data_once_an_assets_data_left_the_window(redis_client: Redis) -> None:
    publish(redis_client, [llm(NOW - 100, duration_ms=10, completion=1), embed(NOW - 1, inputs=4)])

    now = live_rates(["qwen", "bge"], now=NOW, client=redis_client)
    earlier = live_rates(["qwen", "bge"], now=NOW - 90, client=redis_client)

    assert now["qwen"].requests == 0
    assert now["qwen"].latency_p50_ms is None
    assert now["qwen"].interfaces == {}
    assert now["bge"].requests == 1
    assert earlier["qwen"].requests == 1
    assert earlier["qwen"].latency_p95_ms == 10
    assert earlier["bge"].requests == 0


def test_it_forgets_assets_whose_buckets_have_expired(redis_client: Redis) -> None:
    publish(redis_client, [llm(NOW - 1, duration_ms=10, completion=1)])
    fold_live(redis_client, wall_clock=lambda: time.time() - INDEX_PRUNE_AFTER_S - 1)  # long ago
    publish(redis_client, [embed(NOW - 1, inputs=4)])

    fold_live(redis_client)

    assert redis_client.zscore(LIVE_INDEX_KEY, "qwen") is None
    assert redis_client.zscore(LIVE_INDEX_KEY, "bge") == int(NOW - 1)
