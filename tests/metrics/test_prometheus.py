"""``/metrics``: parses as Prometheus text, carries asset_id/interface/model_type, and is guarded."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from actions.tokens import do_create_token
from models_admin.audit import Actor
from models_admin.models import Asset
from runtimes.leases import Leases
from runtimes.metrics import heartbeat
from runtimes.metrics.rollup import aggregate_usage
from runtimes.models import LifecycleEvent, ObservedState, RuntimeState
from runtimes.usage import UsageEvent, publish

pytestmark = pytest.mark.django_db


def make_asset(asset_id: str, interfaces: list[str]) -> Asset:
    return Asset.objects.create(
        asset_id=asset_id, display_name=asset_id, version="1", interfaces=interfaces, spec={}
    )


def scrape(client: Client, **extra: Any) -> dict[str, list[Any]]:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(samples: dict[str, list[Any]], name: str, **labels: str) -> float:
    matches = [s.value for s in samples[name] if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(matches) == 1, (name, labels, samples.get(name))
    return float(matches[0])


@pytest.fixture
def usage(redis_client: Redis) -> None:
    qwen = make_asset("qwen", ["llm-runtime"])
    make_asset("bge", ["embedding-runtime"])
    now = time.time()
    publish(
        redis_client,
        [
            UsageEvent("qwen", "llm-runtime", now - 1, 300.0, 200, 10, 40, 0, 800.0),
            UsageEvent("qwen", "llm-runtime", now - 2, 30.0, 503),
            UsageEvent("bge", "embedding-runtime", now - 1, 20.0, 200, 50, 0, 16),
        ],
    )
    aggregate_usage(redis_client)
    RuntimeState.objects.create(asset=qwen, state=ObservedState.RUNNING)
    for to_state, load_ms in [(ObservedState.STARTING, None), (ObservedState.RUNNING, 4200)]:
        LifecycleEvent.objects.create(
            asset=qwen,
            at=datetime.now(tz=UTC),
            from_state=ObservedState.SLEEPING
            if to_state == ObservedState.STARTING
            else ObservedState.STARTING,
            to_state=to_state,
            load_duration_ms=load_ms,
        )
    Leases(redis_client).acquire("qwen", 2, 30)
    heartbeat.record_worker("w1@gpu-a", client=redis_client)
    heartbeat.record_beat(client=redis_client)


def test_it_exports_usage_with_the_three_labels(usage: None) -> None:
    samples = scrape(Client())

    llm = {"asset_id": "qwen", "interface": "llm-runtime", "model_type": "llm"}
    embedding = {"asset_id": "bge", "interface": "embedding-runtime", "model_type": "embedding"}
    assert value(samples, "hub_requests_total", **llm) == 2
    assert value(samples, "hub_request_errors_total", **llm) == 1
    assert value(samples, "hub_completion_tokens_total", **llm) == 40
    assert value(samples, "hub_generation_seconds_total", **llm) == pytest.approx(0.8)
    assert value(samples, "hub_embedding_inputs_total", **embedding) == 16
    assert value(samples, "hub_request_duration_seconds_count", **llm) == 2
    assert value(samples, "hub_request_duration_seconds_bucket", le="0.05", **llm) == 1
    assert value(samples, "hub_request_duration_seconds_bucket", le="+Inf", **llm) == 2
    assert value(samples, "hub_live_requests_per_second", **llm) == pytest.approx(2 / 60)
    assert value(samples, "hub_live_inputs_per_second", **embedding) == pytest.approx(16 / 60)
    assert value(samples, "hub_live_batch_size", **embedding) == 16
    assert not [s for s in samples["hub_live_batch_size"] if s.labels == llm]  # unknown: absent, not 0
    for name in (
        "hub_requests_total",
        "hub_live_requests_per_second",
        "hub_runtime_state",
        "hub_active_sessions",
    ):
        for sample in samples[name]:
            assert {"asset_id", "interface", "model_type"} <= set(sample.labels), (name, sample)


def test_it_exports_lifecycle_leases_and_celery_liveness(usage: None) -> None:
    samples = scrape(Client())

    llm = {"asset_id": "qwen", "interface": "llm-runtime", "model_type": "llm"}
    assert value(samples, "hub_runtime_state", state="running", **llm) == 1
    assert value(samples, "hub_runtime_state", state="stopped", **llm) == 0
    assert value(samples, "hub_runtime_state", state="stopped", asset_id="bge") == 1
    assert value(samples, "hub_runtime_wakes_total", **llm) == 1
    assert value(samples, "hub_runtime_load_duration_seconds_sum", **llm) == pytest.approx(4.2)
    assert value(samples, "hub_runtime_load_duration_seconds_count", **llm) == 1
    assert value(samples, "hub_active_sessions", **llm) == 1
    assert value(samples, "hub_celery_worker_up", worker="w1@gpu-a") == 1
    assert value(samples, "hub_celery_beat_up") == 1
    assert value(samples, "hub_usage_aggregated_entries_total") == 3
    assert value(samples, "hub_usage_pending_entries") == 0


def test_it_reports_a_silent_beat_as_down(redis_client: Redis) -> None:
    heartbeat.record_beat(client=redis_client, now=time.time() - 10 * heartbeat.STALE_AFTER_S)

    assert value(scrape(Client()), "hub_celery_beat_up") == 0


def test_it_refuses_outsiders_without_a_token(redis_client: Redis) -> None:
    response = Client().get("/metrics", REMOTE_ADDR="10.9.8.7")

    assert response.status_code == 401
    assert "read" in response.content.decode()


def test_it_refuses_a_token_without_the_read_scope(
    redis_client: Redis, make_user: Callable[..., Any]
) -> None:
    user = make_user(superuser=True)
    _, secret = do_create_token(user, actor=Actor.cli(user), scopes=["gateway"])

    response = Client().get("/metrics", REMOTE_ADDR="10.9.8.7", HTTP_AUTHORIZATION=f"Bearer {secret}")

    assert response.status_code == 403


def test_it_admits_a_read_token_from_anywhere(redis_client: Redis, make_user: Callable[..., Any]) -> None:
    user = make_user(superuser=True)
    _, secret = do_create_token(user, actor=Actor.cli(user), scopes=["read"])

    samples = scrape(Client(), REMOTE_ADDR="10.9.8.7", HTTP_AUTHORIZATION=f"Bearer {secret}")

    assert "hub_celery_beat_up" in samples


def test_it_honours_the_allowed_networks_setting(redis_client: Redis, settings: Any) -> None:
    settings.HUB_METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]

    assert Client().get("/metrics", REMOTE_ADDR="10.9.8.7").status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 401


def test_it_exports_queue_depth_and_wait_per_asset(usage: None, redis_client: Redis) -> None:
    from runtimes.leases import queue_keys

    _, queue, alive, stats, _ = queue_keys("qwen")
    expires = int(time.time() * 1000) + 60_000
    for ticket in ("t1", "t2"):  # two requests waiting, as the gateway's queue script records them
        redis_client.zadd(queue, {ticket: 1})
        redis_client.zadd(alive, {ticket: expires})
    redis_client.hset(stats, mapping={"wait_ms": 1500, "svc_ms": 700})
    samples = scrape(Client())

    llm = {"asset_id": "qwen", "interface": "llm-runtime", "model_type": "llm"}
    assert value(samples, "hub_queue_depth", **llm) == 2
    assert value(samples, "hub_queue_wait_seconds", **llm) == pytest.approx(1.5)
    assert value(samples, "hub_queue_depth", asset_id="bge") == 0
    assert not [s for s in samples["hub_queue_wait_seconds"] if s.labels["asset_id"] == "bge"]
