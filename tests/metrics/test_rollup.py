"""Per-minute rollups: exact totals, idempotent re-runs, and crashes that lose and duplicate nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from redis import Redis

from runtimes.metrics import rollup
from runtimes.metrics.rollup import GROUP, aggregate_usage
from runtimes.metrics.series import histogram_percentile, minute_series, usage_summary
from runtimes.models import UsageCursor, UsageMinute, UsageTotal
from runtimes.usage import USAGE_STREAM, UsageEvent, publish
from tests.conftest import child_env

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)  # a minute boundary


def event(minute: int, second: float, *, asset_id: str = "qwen", **kw: Any) -> UsageEvent:
    """A request that finished ``second`` seconds into minute ``minute`` after T0."""
    duration_ms = kw.pop("duration_ms", 100.0)
    end = T0.timestamp() + minute * 60 + second
    return UsageEvent(
        asset_id=asset_id,
        interface=kw.pop("interface", "llm-runtime"),
        started_at=end - duration_ms / 1000,
        duration_ms=duration_ms,
        status=kw.pop("status", 200),
        **kw,
    )


def known_events() -> list[UsageEvent]:
    return [
        event(0, 1, prompt_tokens=10, completion_tokens=20, generation_ms=400, duration_ms=80),
        event(0, 30, prompt_tokens=5, completion_tokens=40, generation_ms=600, duration_ms=700),
        event(0, 59, prompt_tokens=1, status=500, duration_ms=3000),
        event(1, 0, prompt_tokens=2, completion_tokens=8, duration_ms=40),
        event(0, 10, asset_id="bge", interface="embedding-runtime", input_count=16, duration_ms=20),
    ]


def totals() -> list[tuple[Any, ...]]:
    return list(
        UsageMinute.objects.order_by("asset_id", "interface", "minute").values_list(
            "asset_id", "interface", "minute", "requests", "errors", "prompt_tokens", "completion_tokens",
            "inputs", "latency_ms_sum", "latency_buckets", "generation_ms_sum", "generation_tokens",
        )
    )  # fmt: skip


@pytest.mark.django_db
def test_it_folds_known_events_into_exact_minutes(redis_client: Redis) -> None:
    publish(redis_client, known_events())

    result = aggregate_usage(redis_client, now=T0)

    assert result.applied == 5
    first = UsageMinute.objects.get(asset_id="qwen", minute=T0)
    assert (first.requests, first.errors) == (3, 1)
    assert (first.prompt_tokens, first.completion_tokens) == (16, 60)
    assert first.latency_ms_sum == 3780
    assert first.latency_ms_max == 3000
    assert (first.generation_ms_sum, first.generation_tokens) == (1000, 60)
    # 80 ms -> (50, 100], 700 ms -> (500, 1000], 3000 ms -> (2500, 5000]
    assert first.latency_buckets == [0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0]
    second = UsageMinute.objects.get(asset_id="qwen", minute=T0 + timedelta(minutes=1))
    assert (second.requests, second.prompt_tokens, second.completion_tokens) == (1, 2, 8)
    bge = UsageMinute.objects.get(asset_id="bge")
    assert (bge.interface, bge.inputs, bge.requests) == ("embedding-runtime", 16, 1)
    total = UsageTotal.objects.get(asset_id="qwen", interface="llm-runtime")
    assert (total.requests, total.errors, total.completion_tokens) == (4, 1, 68)


@pytest.mark.django_db
def test_it_serves_minute_series_for_charts(redis_client: Redis) -> None:
    publish(redis_client, known_events())
    aggregate_usage(redis_client, now=T0)

    series = minute_series("qwen", T0)

    assert [p.minute for p in series] == [T0, T0 + timedelta(minutes=1)]
    assert series[0].requests == 3
    assert series[0].qps == pytest.approx(3 / 60)
    assert series[0].output_tokens_per_s == pytest.approx(1.0)
    assert series[0].gen_tokens_per_s == pytest.approx(60.0)  # 60 tokens in 1 s of generation
    assert series[0].error_rate == pytest.approx(1 / 3)
    assert series[0].latency_avg_ms == pytest.approx(1260.0)
    assert series[1].gen_tokens_per_s is None
    assert minute_series("qwen", T0 + timedelta(minutes=1))[0].requests == 1
    assert usage_summary("qwen", T0).requests == 4
    assert usage_summary("qwen", T0).completion_tokens == 68


def test_it_estimates_percentiles_inside_a_bucket() -> None:
    buckets = [0] * 14
    buckets[4] = 10  # ten requests in (50, 100] ms

    assert histogram_percentile(buckets, 50, max_ms=100) == pytest.approx(75.0)
    assert histogram_percentile([0] * 14, 50) is None


@pytest.mark.django_db
def test_it_leaves_totals_unchanged_when_run_again(redis_client: Redis) -> None:
    publish(redis_client, known_events())
    aggregate_usage(redis_client, now=T0)
    before = totals()

    again = aggregate_usage(redis_client, now=T0)

    assert again.applied == 0
    assert totals() == before


@pytest.mark.django_db
def test_it_skips_entries_redelivered_after_they_were_counted(redis_client: Redis) -> None:
    from runtimes.metrics.rollup import apply_batch

    publish(redis_client, known_events())
    entries = cast(list[Any], redis_client.xrange(USAGE_STREAM))
    assert apply_batch(entries) == (5, 0)
    before = totals()

    assert apply_batch(entries) == (0, 5)
    assert totals() == before


class Crash(Exception):
    pass


@pytest.mark.django_db
@pytest.mark.parametrize("step", ["read", "committed"])
def test_it_loses_and_duplicates_nothing_when_interrupted(
    redis_client: Redis, step: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(redis_client, known_events())
    aggregate_usage(redis_client, now=T0)
    publish(redis_client, known_events())

    def crash(entries: Any) -> Any:
        if step == "committed":  # PostgreSQL committed, not yet acknowledged
            apply(entries)
        raise Crash(step)  # "read": entries in hand, nothing written

    apply = rollup.apply_batch
    monkeypatch.setattr(rollup, "apply_batch", crash)
    with pytest.raises(Crash):
        aggregate_usage(redis_client, now=T0)
    monkeypatch.setattr(rollup, "apply_batch", apply)
    assert redis_client.xpending(USAGE_STREAM, GROUP)["pending"] == 5
    resumed = aggregate_usage(redis_client, now=T0)

    assert resumed.applied == (5 if step == "read" else 0)
    assert redis_client.xpending(USAGE_STREAM, GROUP)["pending"] == 0
    expected_after_all = UsageTotal.objects.get(asset_id="qwen")
    assert expected_after_all.requests == 8
    assert UsageMinute.objects.get(asset_id="qwen", minute=T0).requests == 6


@pytest.mark.django_db
def test_it_prunes_minutes_past_the_retention(redis_client: Redis, settings: Any) -> None:
    settings.HUB_USAGE_RETENTION_DAYS = 30
    publish(redis_client, known_events())
    aggregate_usage(redis_client, now=T0)

    result = aggregate_usage(redis_client, now=T0 + timedelta(days=30, seconds=30))

    assert result.pruned == 2  # qwen's and bge's first minute
    assert list(UsageMinute.objects.values_list("minute", flat=True).distinct()) == [
        T0 + timedelta(minutes=1)
    ]
    assert UsageTotal.objects.get(asset_id="qwen").requests == 4  # lifetime totals stay


_KILLABLE = """
import sys, time, django
django.setup()
from pathlib import Path
from runtimes.metrics import rollup

apply = rollup.apply_batch

def stall(entries):
    if sys.argv[1] == "committed":
        apply(entries)
    Path(sys.argv[2]).write_text(sys.argv[1])
    time.sleep(600)

rollup.apply_batch = stall
rollup.aggregate_usage()
"""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("step", ["read", "committed"])
def test_it_survives_sigkill_mid_batch(redis_client: Redis, tmp_path: Path, step: str) -> None:
    publish(redis_client, known_events())
    marker = tmp_path / "reached"
    env = child_env()
    proc = subprocess.Popen([sys.executable, "-c", _KILLABLE, step, str(marker)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "aggregator exited before the kill point"
            assert time.monotonic() < deadline, "aggregator never reached the kill point"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)

    assert UsageTotal.objects.filter(requests__gt=0).count() == (0 if step == "read" else 2)
    aggregate_usage(redis_client, now=T0)

    assert UsageTotal.objects.get(asset_id="qwen").requests == 4
    assert UsageTotal.objects.get(asset_id="bge").inputs == 16
    assert UsageCursor.objects.get().applied == 5
    assert redis_client.xpending(USAGE_STREAM, GROUP)["pending"] == 0
