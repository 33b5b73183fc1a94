"""The lifecycle launches through the allow-list and the minimal environment, whatever was stored."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from runtimes.lifecycle import clock, reconcile
from runtimes.models import LifecycleEvent, ObservedState, RuntimeState
from tests.lifecycle.conftest import FAKE_LLAMA, processes_with, wait_for

pytestmark = pytest.mark.slow


def test_a_stored_command_no_longer_allowed_is_refused_when_the_worker_starts_it(
    transactional_db: Any, make_asset: Any, lifecycle_settings: Any, settings: Any, redis_client: Any
) -> None:
    asset = make_asset("delisted", desired="running")  # valid when it was approved
    settings.HUB_LAUNCH_ALLOWED_EXECUTABLES = ["llama-server"]  # the operator narrowed the list since

    assert reconcile(asset.asset_id) == ObservedState.FAILED  # refused for good: no retry
    rs = RuntimeState.objects.get(asset=asset)
    assert (rs.consecutive_failures, rs.next_retry_at) == (1, None)
    assert "is not an allowed executable" in rs.last_error


def test_the_launched_runtime_does_not_see_the_hubs_settings(
    transactional_db: Any,
    make_asset: Any,
    lifecycle_settings: Any,
    redis_client: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SECRET_KEY", "hub-secret")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:pw@db/hub")
    monkeypatch.setenv("HUB_RUNTIME_SECRET_OPENAI_API_KEY", "sk-upstream")
    dump = tmp_path / "env.json"
    # The fake llama-server, preceded by a one-line environment dump of its own process.
    script = (
        "import json, os, runpy, sys; json.dump(dict(os.environ), open(sys.argv.pop(1), 'w')); "
        "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    model_file = tmp_path / "envcheck.gguf"  # make_asset writes it
    asset = make_asset(
        "envcheck",
        desired="running",
        command=[sys.executable, "-c", script, str(dump), str(FAKE_LLAMA), "-m", str(model_file)],
    )

    assert reconcile(asset.asset_id) == ObservedState.RUNNING
    seen = json.loads(dump.read_text())
    assert not {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "HUB_RUNTIME_SECRET_OPENAI_API_KEY"} & set(seen)
    assert seen["PYTHONPATH"]  # its own launch.env
    assert seen["PATH"] == os.environ["PATH"]


def _failure_events(asset: Any) -> list[LifecycleEvent]:
    return list(
        LifecycleEvent.objects.filter(asset=asset).exclude(reason="desired running").order_by("at", "pk")
    )


def test_a_missing_model_file_fails_at_once_with_one_event_naming_it(
    transactional_db: Any, make_asset: Any, lifecycle_settings: Any, redis_client: Any, tmp_path: Path
) -> None:
    absent = tmp_path / "gone" / "model.gguf"
    asset = make_asset(
        "nomodel", desired="running", command=[sys.executable, str(FAKE_LLAMA), "-m", str(absent)]
    )

    assert reconcile(asset.asset_id) == ObservedState.FAILED

    rs = RuntimeState.objects.get(asset=asset)
    assert rs.reason == f"model file not found: {absent}"
    assert (rs.consecutive_failures, rs.next_retry_at) == (1, None)
    assert "ModelFileNotFound" in rs.last_error
    [event] = _failure_events(asset)
    assert (event.from_state, event.to_state, event.reason) == (
        ObservedState.STARTING,
        ObservedState.FAILED,
        f"model file not found: {absent}",
    )
    assert processes_with(str(absent)) == []  # nothing was spawned
    clock.advance(3600)
    assert reconcile(asset.asset_id) == ObservedState.FAILED  # and it stays there: no backoff retry
    assert len(_failure_events(asset)) == 1


def test_a_missing_executable_fails_at_once_naming_it(
    transactional_db: Any,
    make_asset: Any,
    lifecycle_settings: Any,
    settings: Any,
    redis_client: Any,
    tmp_path: Path,
) -> None:
    missing = str(tmp_path / "bin" / "llama-server")
    settings.HUB_LAUNCH_ALLOWED_EXECUTABLES = [*settings.HUB_LAUNCH_ALLOWED_EXECUTABLES, missing]
    model_file = tmp_path / "noexe.gguf"  # make_asset writes it
    asset = make_asset("noexe", desired="running", command=[missing, "-m", str(model_file)])

    assert reconcile(asset.asset_id) == ObservedState.FAILED

    rs = RuntimeState.objects.get(asset=asset)
    assert rs.reason == f"executable not found: {missing}"
    assert (rs.consecutive_failures, rs.next_retry_at) == (1, None)
    [event] = _failure_events(asset)
    assert event.to_state == ObservedState.FAILED


def test_a_crash_of_a_process_that_started_is_still_retried_with_backoff(
    transactional_db: Any, make_asset: Any, lifecycle_settings: Any, settings: Any, redis_client: Any
) -> None:
    settings.HUB_BACKOFF_BASE_S, settings.HUB_BACKOFF_CAP_S = 30.0, 60.0  # outlasts the reconcile
    asset = make_asset("crashes", desired="running")
    assert reconcile(asset.asset_id) == ObservedState.RUNNING
    process = RuntimeState.objects.get(asset=asset).process
    assert process is not None
    pid = process["pid"]

    os.killpg(pid, signal.SIGKILL)  # the runtime dies after it started
    wait_for(lambda: processes_with("crashes.gguf") == [], what="the runtime to die")

    assert reconcile(asset.asset_id) == ObservedState.STARTING  # waiting out its backoff
    rs = RuntimeState.objects.get(asset=asset)
    assert rs.next_retry_at is not None
    assert rs.consecutive_failures == 1
    assert rs.reason.startswith("crashed (1/3)")
    clock.advance(120)
    assert reconcile(asset.asset_id) == ObservedState.RUNNING  # restarted
