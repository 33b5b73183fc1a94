"""When `up` stops, the runtimes it launched stop too, and their state says why (not "crashed")."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from models_admin.audit import Actor
from runtimes.lifecycle import do_wake_asset, reconcile
from runtimes.lifecycle.runner import launcher
from runtimes.lifecycle.shutdown import REASON, stop_launched_runtimes
from runtimes.models import ObservedState, RuntimeState
from tests.lifecycle.conftest import processes_with

S = ObservedState
pytestmark = pytest.mark.slow


def test_it_stops_every_launched_runtime_and_records_why(
    transactional_db: Any, make_asset: Any, lifecycle_settings: Path, redis_client: Any, markers: list[str]
) -> None:
    on_demand = make_asset("shut-on-demand", desired="on-demand")
    always = make_asset("shut-always", desired="running")
    for asset in (on_demand, always):
        do_wake_asset(asset, actor=Actor.system())
        assert reconcile(asset.asset_id) == S.RUNNING
    marker = str(lifecycle_settings / "orphan-marker")
    markers.append(marker)
    # A start interrupted before the database knew its process: only the launcher knows it.
    orphan = launcher().start(
        "orphan", [sys.executable, "-c", "import time; time.sleep(600)", marker], listen_args=lambda h, p: []
    )
    assert len(processes_with(marker)) == 1

    assert stop_launched_runtimes() == ["orphan", "shut-always", "shut-on-demand"]

    for asset in (on_demand, always):
        assert processes_with(f"{asset.asset_id}.gguf") == []
    assert not launcher().is_alive(orphan)
    assert launcher().recorded() == {}
    states = {rs.asset.asset_id: rs for rs in RuntimeState.objects.select_related("asset")}
    assert states["shut-on-demand"].state == S.SLEEPING
    assert states["shut-always"].state == S.STOPPED
    for rs in states.values():
        assert rs.reason == REASON
        assert rs.process is None
        assert rs.consecutive_failures == 0
    assert stop_launched_runtimes() == []  # idempotent

    # The next start of the hub starts what is desired running, as a start, not a crash.
    assert reconcile(always.asset_id) == S.RUNNING
    assert RuntimeState.objects.get(asset=always).consecutive_failures == 0
