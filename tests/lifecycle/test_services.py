"""Lifecycle services in-process: transition table, compare-and-set, policies, estimates."""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest
from django.db import connection, transaction

from models_admin.audit import Actor
from models_admin.models import AuditEntry
from runtimes import leases
from runtimes.lifecycle import (
    InvalidTransition,
    NotRunnable,
    clock,
    do_retry_asset,
    do_sleep_asset,
    do_wake_asset,
    mark_request_finished,
    reconcile,
    retry_after_estimate,
)
from runtimes.lifecycle.transitions import state_of, transition
from runtimes.models import TRANSITIONS, LifecycleEvent, ObservedState, RuntimeState
from tests.lifecycle.conftest import processes_with

S = ObservedState
ALL_MOVES = [(a, b) for a in S.values for b in S.values]

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("old", "new"), ALL_MOVES)
def test_it_allows_exactly_the_moves_in_the_table(db: Any, make_asset: Any, old: str, new: str) -> None:
    asset = make_asset("table")
    rs = state_of(asset)
    RuntimeState.objects.filter(pk=rs.pk).update(state=old)
    rs.refresh_from_db()
    if new in TRANSITIONS[old]:
        assert transition(rs, new, reason="test").state == new
        assert LifecycleEvent.objects.get(asset=asset).to_state == new
    else:
        with pytest.raises(InvalidTransition):
            transition(rs, new, reason="test")
        rs.refresh_from_db()
        assert rs.state == old
        assert not LifecycleEvent.objects.exists()


def test_it_refuses_a_transition_that_lost_a_race_and_changes_nothing(db: Any, make_asset: Any) -> None:
    asset = make_asset("race")
    mine = state_of(asset)
    theirs = RuntimeState.objects.get(pk=mine.pk)
    transition(theirs, S.STARTING, reason="theirs")
    with pytest.raises(InvalidTransition):
        transition(mine, S.STARTING, reason="mine")
    assert RuntimeState.objects.get(pk=mine.pk).generation == 1
    assert list(LifecycleEvent.objects.values_list("reason", flat=True)) == ["theirs"]


def test_it_never_wakes_an_asset_without_a_live_spec(db: Any, make_asset: Any) -> None:
    asset = make_asset("draft")
    asset.live_spec = None
    asset.save()
    with pytest.raises(NotRunnable):
        do_wake_asset(asset, actor=Actor.system())
    assert reconcile(asset.asset_id) == S.STOPPED


def test_it_joins_a_wake_in_flight_and_audits_the_users_wake(
    transactional_db: Any, make_asset: Any, make_user: Any, lifecycle_settings: Any, redis_client: Any
) -> None:
    asset = make_asset("join")
    user = make_user("olga")
    first = do_wake_asset(asset, actor=Actor(user=user, source="ui"))
    second = do_wake_asset(asset, actor=Actor(user=user, source="ui"))
    assert first.state == second.state == S.STARTING
    assert LifecycleEvent.objects.filter(asset=asset).count() == 1
    entry = AuditEntry.objects.get(action="asset.wake")
    assert (entry.actor_label, entry.after) == ("olga", {"state": "starting"})
    assert redis_client.llen("hub") == 1  # one reconcile enqueued, not two


def test_it_starts_a_woken_runtime_and_sleeps_it_after_idle_but_not_under_a_lease(
    transactional_db: Any, make_asset: Any, lifecycle_settings: Any, redis_client: Any
) -> None:
    asset = make_asset("idle", auto_sleep_min=5)
    do_wake_asset(asset, actor=Actor.system())
    assert reconcile(asset.asset_id) == S.RUNNING
    rs = RuntimeState.objects.get(asset=asset)
    assert rs.base_url
    assert rs.process
    assert rs.health == "ok"
    assert len(processes_with(f"{asset.asset_id}.gguf")) == 1
    mark_request_finished(asset.asset_id)

    clock.advance(4 * 60)
    assert reconcile(asset.asset_id) == S.RUNNING
    clock.advance(2 * 60)
    lease = leases.acquire(asset.asset_id, 1, 60)
    assert lease is not None
    assert reconcile(asset.asset_id) == S.RUNNING
    leases.release(lease.lease_id)
    assert reconcile(asset.asset_id) == S.SLEEPING
    assert processes_with(f"{asset.asset_id}.gguf") == []
    assert RuntimeState.objects.get(asset=asset).process is None


def test_it_never_sleeps_with_auto_sleep_zero(
    transactional_db: Any, make_asset: Any, lifecycle_settings: Any, redis_client: Any
) -> None:
    asset = make_asset("awake", auto_sleep_min=0)
    do_wake_asset(asset, actor=Actor.system())
    reconcile(asset.asset_id)
    clock.advance(24 * 3600)
    assert reconcile(asset.asset_id) == S.RUNNING


def test_it_stops_a_desired_stopped_asset_and_refuses_to_wake_it(
    transactional_db: Any, make_asset: Any, lifecycle_settings: Any, redis_client: Any
) -> None:
    asset = make_asset("halt", desired="running")
    assert reconcile(asset.asset_id) == S.RUNNING
    asset.live_spec = {**asset.live_spec, "lifecycle": {"desired": "stopped", "auto_sleep_min": 0}}
    asset.save()
    assert reconcile(asset.asset_id) == S.STOPPED
    assert processes_with(f"{asset.asset_id}.gguf") == []
    with pytest.raises(InvalidTransition):
        do_wake_asset(asset, actor=Actor.system())


def test_it_backs_off_then_fails_with_the_reason_and_an_operator_can_retry(
    transactional_db: Any, make_asset: Any, lifecycle_settings: Any, redis_client: Any
) -> None:
    asset = make_asset(
        "broken", desired="running", command=[sys.executable, "-c", "print('no GPU here'); exit(3)"]
    )
    assert reconcile(asset.asset_id) == S.STARTING
    rs = RuntimeState.objects.get(asset=asset)
    assert rs.consecutive_failures == 1
    assert rs.next_retry_at is not None
    assert "no GPU here" in rs.last_error
    assert reconcile(asset.asset_id) == S.STARTING  # backoff not over: nothing tried
    assert RuntimeState.objects.get(asset=asset).consecutive_failures == 1
    for _ in range(2):
        clock.advance(60)
        reconcile(asset.asset_id)
    rs = RuntimeState.objects.get(asset=asset)
    assert (rs.state, rs.consecutive_failures) == (S.FAILED, 3)
    assert "no GPU here" in rs.last_error
    assert "gave up after 3" in rs.reason
    assert reconcile(asset.asset_id) == S.FAILED
    with pytest.raises(InvalidTransition):
        do_wake_asset(asset, actor=Actor.system())
    retried = do_retry_asset(asset, actor=Actor.system())
    assert (retried.state, retried.consecutive_failures) == (S.STARTING, 0)


def test_it_refuses_to_sleep_a_desired_running_asset(
    transactional_db: Any, make_asset: Any, lifecycle_settings: Any, redis_client: Any
) -> None:
    asset = make_asset("always", desired="running")
    with pytest.raises(InvalidTransition):
        do_sleep_asset(asset, actor=Actor.system())


def test_it_estimates_retry_after_from_past_loads(
    transactional_db: Any, make_asset: Any, lifecycle_settings: Any, redis_client: Any, settings: Any
) -> None:
    settings.HUB_DEFAULT_LOAD_ESTIMATE_S = 42
    asset = make_asset("estimate")
    assert retry_after_estimate(asset) == 42
    for ms in (3000, 5000, 4000):
        LifecycleEvent.objects.create(
            asset=asset, at=clock.now(), from_state="starting", to_state="running", load_duration_ms=ms
        )
    assert retry_after_estimate(asset) == 4


def test_it_never_sends_a_task_enqueued_in_a_rolled_back_transaction(
    transactional_db: Any, make_asset: Any, lifecycle_settings: Any, redis_client: Any
) -> None:
    asset = make_asset("rollback")

    def wake_then_fail() -> None:
        with transaction.atomic():
            do_wake_asset(asset, actor=Actor.system())
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        wake_then_fail()
    assert redis_client.llen("hub") == 0
    assert not RuntimeState.objects.filter(asset=asset).exclude(state=S.STOPPED).exists()
    do_wake_asset(asset, actor=Actor.system())
    assert redis_client.llen("hub") == 1


def test_it_starts_one_process_when_threads_reconcile_at_once(
    transactional_db: Any, make_asset: Any, lifecycle_settings: Any, redis_client: Any
) -> None:
    asset = make_asset("threads", desired="running", load_time=1.0)
    barrier = threading.Barrier(4)

    def run() -> None:
        try:
            barrier.wait()
            reconcile(asset.asset_id)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reconcile(asset.asset_id)
    assert RuntimeState.objects.get(asset=asset).state == S.RUNNING
    assert len(processes_with(f"{asset.asset_id}.gguf")) == 1
    assert LifecycleEvent.objects.filter(asset=asset, to_state=S.RUNNING).count() == 1
