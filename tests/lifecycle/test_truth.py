"""State that tells the truth: health follows the state, failures read in one line, and a
start that no worker can pick up fails with the reason instead of waiting forever."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from models_admin.audit import Actor
from runtimes.hosts import probe, registry
from runtimes.lifecycle import clock, do_wake_asset, health, pickup, reconcile, reconcile_all, runner
from runtimes.lifecycle.transitions import state_of, transition
from runtimes.models import Health, LifecycleEvent, ObservedState, RuntimeState
from runtimes.protocols import HealthReport, HealthState
from runtimes.tasks import reconcile_all as reconcile_all_task
from tests.lifecycle import shared_clock
from tests.lifecycle.conftest import wait_for

S = ObservedState


def pin(asset: Any, host: str) -> Any:
    runtime = {**asset.live_spec["runtime"], "host": host}
    asset.live_spec = {**asset.live_spec, "runtime": runtime}
    asset.spec = asset.live_spec
    asset.save()
    return asset


def running(asset: Any, health: str = Health.OK) -> RuntimeState:
    rs = state_of(asset)
    RuntimeState.objects.filter(pk=rs.pk).update(state=S.RUNNING, health=health, health_detail="fine")
    rs.refresh_from_db()
    return rs


def test_leaving_running_drops_a_serving_health_and_failing_records_down(db: Any, make_asset: Any) -> None:
    asleep = transition(running(make_asset("nap")), S.STOPPING, reason="sleep")
    failed = transition(running(make_asset("crash"), Health.BUSY), S.FAILED, reason="crashed")
    down = transition(running(make_asset("gone"), Health.DOWN), S.STOPPED, reason="external runtime down")

    assert asleep.health == Health.UNKNOWN
    assert failed.health == Health.DOWN
    assert failed.observed_health == Health.DOWN
    assert down.health == Health.DOWN  # a "down" that was observed stays


def test_a_health_probe_lands_only_on_the_state_it_observed(db: Any, make_asset: Any) -> None:
    probed = running(make_asset("probe"), Health.DOWN)
    transition(RuntimeState.objects.get(pk=probed.pk), S.STOPPING, reason="sleep")  # meanwhile

    health.record_health(probed, HealthReport(HealthState.OK, "200"))

    rs = RuntimeState.objects.get(pk=probed.pk)
    assert (rs.state, rs.observed_health) == (S.STOPPING, Health.DOWN)
    assert rs.health_detail != "200"


def test_a_stale_ok_is_never_reported_beside_failed_or_stopped(db: Any, make_asset: Any) -> None:
    rs = state_of(make_asset("stale"))
    for state, shown in ((S.FAILED, Health.DOWN), (S.STOPPED, Health.UNKNOWN), (S.RUNNING, Health.OK)):
        RuntimeState.objects.filter(pk=rs.pk).update(state=state, health=Health.OK)
        rs.refresh_from_db()
        assert rs.observed_health == shown, state


def test_a_failed_launch_keeps_its_log_out_of_the_timeline(
    transactional_db: Any, make_asset: Any, lifecycle_settings: Any, redis_client: Any
) -> None:
    asset = make_asset(
        "noisy",
        desired="running",
        command=[sys.executable, "-c", "print('loading'); print('GGML_ASSERT boom'); raise SystemExit(3)"],
    )
    assert reconcile(asset.asset_id) == S.STARTING

    event = LifecycleEvent.objects.filter(asset=asset).order_by("-at", "-id").first()
    assert event is not None
    assert event.detail == "SpawnFailed: noisy: process exited while starting"
    assert "GGML_ASSERT" in RuntimeState.objects.get(asset=asset).last_error  # kept for the API
    log = runner.launcher().log_path("noisy").read_text()
    assert "GGML_ASSERT boom" in log  # and in the runtime log the asset page shows


def test_only_overdue_starts_on_hosts_without_a_consumer_are_reported(
    db: Any, make_asset: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock.reset()
    orphan = pin(make_asset("orphan"), "gpu-nowhere")
    served = pin(make_asset("served"), "gpu-a")
    fresh = pin(make_asset("fresh"), "gpu-nowhere")
    for asset in (orphan, served):
        do_wake_asset(asset, actor=Actor.system())
    monkeypatch.setattr(pickup, "consumed_queues", lambda: {"hub", "hub.host.gpu-a"})
    clock.advance(61)
    do_wake_asset(fresh, actor=Actor.system())
    try:
        found = pickup.unpicked_starts()
        monkeypatch.setattr(pickup, "consumed_queues", lambda: None)  # no worker answered at all
        unknown = pickup.unpicked_starts()
    finally:
        clock.reset()

    assert [asset_id for asset_id, _ in found] == ["orphan"]
    assert found[0][1].startswith("no live worker for host gpu-nowhere")
    assert unknown == []


def test_a_start_pinned_to_a_host_without_a_worker_fails_within_the_pickup_timeout(
    workers: Any, make_asset: Any, lifecycle_settings: Any
) -> None:
    workers.start()
    # gpu-nowhere heartbeats (placement lets the start through) but no worker takes its queue.
    registry.record_heartbeat("gpu-nowhere", probe.machine(), queues=[], version="test")
    asset = pin(make_asset("stranded"), "gpu-nowhere")
    assert do_wake_asset(asset, actor=Actor.system()).state == S.STARTING
    early = reconcile_all_task.delay()  # what beat does every 10 s: too early, it may still be picked up
    shared_clock.advance(61)  # HUB_START_PICKUP_TIMEOUT_S is 60 by default
    late = reconcile_all_task.delay()

    rs = wait_for(lambda: state_of(asset) if state_of(asset).state == S.FAILED else None, what="failed")
    assert rs.reason.startswith("no live worker for host gpu-nowhere")
    assert rs.last_error.startswith("no live worker for host gpu-nowhere")
    assert rs.observed_health == Health.DOWN
    workers.finished(early, late)  # both passes ran before "failed once" is counted
    assert reconcile_all() >= 0  # a failed start is not failed twice
    assert LifecycleEvent.objects.filter(asset=asset, to_state=S.FAILED).count() == 1
