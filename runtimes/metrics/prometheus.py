"""``/metrics``: the hub's state in Prometheus text format, read at scrape time.

A custom collector reads PostgreSQL (lifetime usage totals, runtime states, lifecycle
events) and Redis (live rates, leases, heartbeats) on each scrape, so every web process
answers the same numbers and nothing is kept in process memory (no multiprocess mode
needed). Usage series carry ``asset_id``, ``interface`` and ``model_type`` (seed §10);
per-asset series (state, wakes, leases) use the asset's first-declared interface, so
summing over ``asset_id`` never counts an asset twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any, cast

from django.db.models import Count, Q, Sum
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector
from redis import Redis

from models_admin.interfaces import get_interface
from models_admin.models import Asset
from runtimes.leases import Leases
from runtimes.metrics import heartbeat
from runtimes.metrics.hosts import host_metrics
from runtimes.metrics.live import live_rates, redis_client
from runtimes.metrics.rollup import CURSOR_NAME, GROUP
from runtimes.models import LifecycleEvent, ObservedState, RuntimeState, UsageCursor, UsageTotal
from runtimes.models.usage import LATENCY_BUCKETS_MS
from runtimes.usage import USAGE_STREAM

LABELS = ["asset_id", "interface", "model_type"]
_WAKE_FROM = (ObservedState.STOPPED, ObservedState.SLEEPING, ObservedState.FAILED)


def model_type(interface: str) -> str:
    spec = get_interface(interface)
    return spec.model_type if spec else "unknown"


def _labels(asset_id: str, interface: str) -> list[str]:
    return [asset_id, interface, model_type(interface)]


class HubCollector(Collector):
    """Collects every hub metric from PostgreSQL and Redis at scrape time."""

    def __init__(self, client: Redis | None = None) -> None:
        self.client = client

    def collect(self) -> Iterator[Metric]:
        client = self.client or redis_client()
        primary = {
            a.asset_id: (a.interfaces[0] if a.interfaces else "unknown")
            for a in Asset.objects.only("asset_id", "interfaces")
        }
        yield from self._usage_totals()
        yield from self._live(client, primary)
        yield from self._lifecycle(primary)
        yield from self._celery(client)
        yield from self._pipeline(client)
        yield from host_metrics(lambda asset_id: _labels(asset_id, primary.get(asset_id, "unknown")), LABELS)

    def _usage_totals(self) -> Iterator[Metric]:
        counters = {
            "requests": CounterMetricFamily("hub_requests", "Requests answered.", labels=LABELS),
            "errors": CounterMetricFamily("hub_request_errors", "Requests answered >= 400.", labels=LABELS),
            "prompt_tokens": CounterMetricFamily("hub_prompt_tokens", "Prompt tokens.", labels=LABELS),
            "completion_tokens": CounterMetricFamily(
                "hub_completion_tokens", "Completion (output) tokens.", labels=LABELS
            ),
            "inputs": CounterMetricFamily("hub_embedding_inputs", "Embedding inputs.", labels=LABELS),
            "generation_tokens": CounterMetricFamily(
                "hub_generation_tokens",
                "Completion tokens of requests that reported a generation time.",
                labels=LABELS,
            ),
        }
        generation = CounterMetricFamily(
            "hub_generation_seconds",
            "Time spent generating (rate of tokens over this: tokens/s).",
            labels=LABELS,
        )
        latency = HistogramMetricFamily(
            "hub_request_duration_seconds", "Request latency as the caller saw it.", labels=LABELS
        )
        bounds = [f"{ms / 1000:g}" for ms in LATENCY_BUCKETS_MS] + ["+Inf"]
        for row in UsageTotal.objects.order_by("asset_id", "interface"):
            labels = _labels(row.asset_id, row.interface)
            for name, family in counters.items():
                family.add_metric(labels, float(getattr(row, name)))
            generation.add_metric(labels, row.generation_ms_sum / 1000.0)
            cumulative, running = [], 0
            for bound, count in zip(bounds, row.latency_buckets, strict=True):
                running += count
                cumulative.append((bound, float(running)))
            latency.add_metric(labels, cumulative, row.latency_ms_sum / 1000.0)
        yield from counters.values()
        yield generation
        yield latency

    def _live(self, client: Redis, primary: dict[str, str]) -> Iterator[Metric]:
        gauges = {
            "qps": GaugeMetricFamily(
                "hub_live_requests_per_second", "Requests/s over the last 60 s.", labels=LABELS
            ),
            "output_tokens_per_s": GaugeMetricFamily(
                "hub_live_output_tokens_per_second", "Completion tokens/s over the last 60 s.", labels=LABELS
            ),
            "gen_tokens_per_s": GaugeMetricFamily(
                "hub_live_generation_tokens_per_second",
                "Per-request generation speed, last 60 s.",
                labels=LABELS,
            ),
            "inputs_per_s": GaugeMetricFamily(
                "hub_live_inputs_per_second",
                "Embedding inputs/s (index throughput), last 60 s.",
                labels=LABELS,
            ),
            "batch_size": GaugeMetricFamily(
                "hub_live_batch_size", "Embedding inputs per request, last 60 s.", labels=LABELS
            ),
            "latency_p50_ms": GaugeMetricFamily(
                "hub_live_latency_p50_seconds", "Median latency, last 60 s.", labels=LABELS
            ),
            "latency_p95_ms": GaugeMetricFamily(
                "hub_live_latency_p95_seconds", "95th percentile latency, last 60 s.", labels=LABELS
            ),
            "error_rate": GaugeMetricFamily(
                "hub_live_error_ratio", "Errors / requests, last 60 s.", labels=LABELS
            ),
        }
        sessions = GaugeMetricFamily("hub_active_sessions", "Live concurrency leases.", labels=LABELS)
        rates = live_rates(sorted(primary), client=client)
        for asset_id, live in rates.items():
            if live.active_sessions is not None:
                sessions.add_metric(_labels(asset_id, primary[asset_id]), float(live.active_sessions))
            for interface, per in live.interfaces.items():
                labels = _labels(asset_id, interface)
                for key, family in gauges.items():
                    value = cast(float | None, getattr(per, key))
                    if value is None:
                        continue  # unknown is absent, never 0
                    family.add_metric(labels, value / 1000.0 if key.endswith("_ms") else float(value))
        yield from gauges.values()
        yield sessions
        yield from _queue(client, primary)

    def _lifecycle(self, primary: dict[str, str]) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "hub_runtime_state", "Observed runtime state (1 for the current one).", labels=[*LABELS, "state"]
        )
        observed = dict(RuntimeState.objects.values_list("asset__asset_id", "state"))
        for asset_id, interface in sorted(primary.items()):
            current = observed.get(asset_id, ObservedState.STOPPED)
            for choice in ObservedState.values:
                state.add_metric([*_labels(asset_id, interface), choice], 1.0 if choice == current else 0.0)
        yield state

        wakes = CounterMetricFamily(
            "hub_runtime_wakes", "Starts from stopped, sleeping or failed.", labels=LABELS
        )
        loads = SummaryMetricFamily(
            "hub_runtime_load_duration_seconds", "Time from start to ready, per start.", labels=LABELS
        )
        rows = (
            LifecycleEvent.objects.values("asset__asset_id")
            .annotate(
                wakes=Count("id", filter=Q(to_state=ObservedState.STARTING, from_state__in=_WAKE_FROM)),
                loads=Count("load_duration_ms"),
                load_ms=Sum("load_duration_ms"),
            )
            .order_by("asset__asset_id")
        )
        for row in rows:
            asset_id = row["asset__asset_id"]
            labels = _labels(asset_id, primary.get(asset_id, "unknown"))
            wakes.add_metric(labels, float(row["wakes"]))
            loads.add_metric(labels, int(row["loads"]), float(row["load_ms"] or 0) / 1000.0)
        yield wakes
        yield loads

    def _celery(self, client: Redis) -> Iterator[Metric]:
        now = time.time()
        workers, beat = heartbeat.last_seen(client)
        up = GaugeMetricFamily(
            "hub_celery_worker_up", "A worker ran its heartbeat recently.", labels=["worker"]
        )
        seen = GaugeMetricFamily(
            "hub_celery_worker_last_seen_timestamp_seconds", "A worker's last heartbeat.", labels=["worker"]
        )
        for name, at in sorted(workers.items()):
            up.add_metric([name], 1.0 if now - at <= heartbeat.STALE_AFTER_S else 0.0)
            seen.add_metric([name], at)
        yield up
        yield seen
        yield GaugeMetricFamily(
            "hub_celery_beat_up",
            "Beat published a task recently.",
            value=1.0 if beat is not None and now - beat <= heartbeat.STALE_AFTER_S else 0.0,
        )
        if beat is not None:
            yield GaugeMetricFamily(
                "hub_celery_beat_last_seen_timestamp_seconds", "Beat's last heartbeat.", value=beat
            )

    def _pipeline(self, client: Redis) -> Iterator[Metric]:
        pipe = client.pipeline(transaction=False)
        pipe.xlen(USAGE_STREAM)
        pipe.xpending(USAGE_STREAM, GROUP)
        # The group does not exist before the first aggregation: that reply is an error, not a scrape failure.
        stream_len, pending = cast(Sequence[Any], pipe.execute(raise_on_error=False))
        if isinstance(stream_len, int):
            yield GaugeMetricFamily(
                "hub_usage_stream_entries", "Entries held in the usage stream.", value=stream_len
            )
        if isinstance(pending, dict):
            yield GaugeMetricFamily(
                "hub_usage_pending_entries",
                "Usage entries read but not yet acknowledged.",
                value=float(pending["pending"]),
            )
        cursor = UsageCursor.objects.filter(name=CURSOR_NAME).first()
        if cursor is not None:
            yield CounterMetricFamily(
                "hub_usage_aggregated_entries",
                "Usage entries folded into the rollups.",
                value=float(cursor.applied),
            )
            yield GaugeMetricFamily(
                "hub_usage_last_aggregated_timestamp_seconds",
                "When the rollups last advanced.",
                value=cursor.updated_at.timestamp(),
            )


def render() -> bytes:
    """The exposition text for one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector())
    return generate_latest(registry)


def _queue(client: Redis, primary: dict[str, str]) -> Iterator[Metric]:
    """The gateway's queue per asset: requests waiting now, and the recent average wait."""
    depth = GaugeMetricFamily("hub_queue_depth", "Requests waiting for a concurrency slot.", labels=LABELS)
    wait = GaugeMetricFamily(
        "hub_queue_wait_seconds", "Average wait for a slot of recent requests (moving).", labels=LABELS
    )
    for asset_id, snapshot in Leases(client).queue_snapshots(sorted(primary)).items():
        labels = _labels(asset_id, primary[asset_id])
        depth.add_metric(labels, float(snapshot.depth))
        if snapshot.wait_ms is not None:
            wait.add_metric(labels, snapshot.wait_ms / 1000.0)
    yield depth
    yield wait
