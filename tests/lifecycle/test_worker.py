"""The lifecycle through real Celery worker processes, real Redis and launched fake runtimes.

States are asserted, never durations: each wait only bounds how long a test may hang.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

import pytest
from django.db import connection

from models_admin.audit import Actor
from runtimes.lifecycle import do_wake_asset, mark_request_finished, reconcile
from runtimes.lifecycle.transitions import state_of
from runtimes.models import LifecycleEvent, ObservedState, RuntimeState
from runtimes.tasks import reconcile_asset
from tests.lifecycle import shared_clock
from tests.lifecycle.conftest import KILLER, processes_with, wait_for

S = ObservedState
pytestmark = pytest.mark.slow


def state(asset: Any) -> RuntimeState:
    return state_of(asset)


def test_it_wakes_an_on_demand_asset_on_request_and_sleeps_it_after_idle(
    workers: Any, make_asset: Any, make_user: Any
) -> None:
    workers.start()
    asset = make_asset("chat", auto_sleep_min=5)
    assert do_wake_asset(asset, actor=Actor(user=make_user(), source="api")).state == S.STARTING
    wait_for(lambda: state(asset).state == S.RUNNING, what="running")
    assert len(processes_with("chat.gguf")) == 1
    mark_request_finished(asset.asset_id)

    shared_clock.advance(6 * 60)
    reconcile_asset.delay(asset.asset_id)
    wait_for(lambda: state(asset).state == S.SLEEPING, what="sleeping")
    assert processes_with("chat.gguf") == []
    reasons = list(
        LifecycleEvent.objects.filter(asset=asset).order_by("at", "id").values_list("reason", flat=True)
    )
    assert reasons == ["wake", "ready", "idle for 5 min", "idle for 5 min"]


def test_it_restarts_a_crashing_runtime_with_backoff_and_fails_after_the_cap(
    workers: Any, make_asset: Any
) -> None:
    workers.start()
    asset = make_asset("crashy", desired="running")
    reconcile_asset.delay(asset.asset_id)
    for crash in range(3):  # HUB_RESTART_MAX_ATTEMPTS=3 for the worker
        pid = wait_for(
            lambda: state(asset).state == S.RUNNING and state(asset).process, what=f"running #{crash + 1}"
        )["pid"]
        os.killpg(pid, signal.SIGKILL)  # the runtime crashes
        reconcile_asset.delay(asset.asset_id)  # what beat does every 10 s

        def moved_on(pid: int = pid) -> bool:
            process = state(asset).process
            return process is None or process["pid"] != pid

        wait_for(moved_on, what="the crash to be noticed")

    rs = wait_for(lambda: state(asset) if state(asset).state == S.FAILED else None, what="failed")
    assert rs.consecutive_failures == 3
    assert "process exited" in rs.last_error
    assert "crashed 3 times" in rs.reason
    restarts = LifecycleEvent.objects.filter(asset=asset, from_state=S.RUNNING, to_state=S.STARTING)
    assert [e.reason.split(";")[0] for e in restarts.order_by("at")] == ["crashed (1/3)", "crashed (2/3)"]
    workers.finished(reconcile_asset.delay(asset.asset_id))  # a failed asset is not restarted
    assert processes_with("crashy.gguf") == []


def test_it_starts_exactly_one_process_under_concurrent_reconciles(workers: Any, make_asset: Any) -> None:
    workers.start()
    workers.start()
    asset = make_asset("crowd", desired="running", load_time=1.5)
    queued = [reconcile_asset.delay(asset.asset_id) for _ in range(4)]

    def run() -> None:
        try:
            reconcile(asset.asset_id)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_for(lambda: state(asset).state == S.RUNNING, what="running")
    queued += [reconcile_asset.delay(asset.asset_id) for _ in range(4)]
    workers.finished(*queued)  # every reconcile ran before counting what they started
    assert len(processes_with("crowd.gguf")) == 1
    assert LifecycleEvent.objects.filter(asset=asset, to_state=S.RUNNING).count() == 1


def test_it_converges_after_the_worker_is_killed_in_the_middle_of_a_start(
    workers: Any, make_asset: Any
) -> None:
    workers.start()
    asset = make_asset("orphan", load_time=4.0)
    do_wake_asset(asset, actor=Actor.system())
    (runtime_pid,) = wait_for(lambda: processes_with("orphan.gguf"), what="the runtime process")
    with open(f"/proc/{runtime_pid}/stat") as stat:
        pool_pid = int(stat.read().rsplit(")", 1)[1].split()[1])  # the pool process that spawned it
    assert state(asset).state == S.STARTING
    os.kill(pool_pid, signal.SIGKILL)  # the worker dies; the runtime it spawned lives on

    reconcile_asset.delay(asset.asset_id)  # a later reconcile (beat)
    rs = wait_for(lambda: state(asset) if state(asset).state == S.RUNNING else None, what="running")
    assert processes_with("orphan.gguf") == [runtime_pid]
    assert rs.process["pid"] == runtime_pid


def test_it_gives_up_on_a_task_that_kills_its_worker_every_time(workers: Any, make_asset: Any) -> None:
    workers.start()
    asset = make_asset("killer", desired="running", command=[sys.executable, str(KILLER)])
    reconcile_asset.delay(asset.asset_id)
    rs = wait_for(
        lambda: state(asset) if state(asset).state == S.FAILED else None, timeout=120, what="failed"
    )
    assert "killed the worker 3 times" in rs.last_error
    workers.finished(reconcile_asset.delay(asset.asset_id))
    assert state(asset).state == S.FAILED
