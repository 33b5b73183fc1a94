"""Placement, eviction and failover with three real workers, each its own host with a declared
capacity (gpu-a 24 GB, gpu-b 16 GB, gpu-c 8 GB of VRAM), and fake runtimes declaring their use.

The failover test kills a worker: it runs last in this module (the next module's fixture
starts a fresh cluster anyway, and ``hosts`` restarts any killed worker).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.test import Client

from actions.tokens import do_create_token
from models_admin.audit import Actor
from runtimes import leases
from runtimes.lifecycle import do_sleep_asset, do_wake_asset, reconcile_all
from runtimes.lifecycle.errors import NoCapacity
from runtimes.models import Host, LifecycleEvent, ObservedState
from tests.hosts.conftest import Cluster, state, wait_state
from tests.lifecycle.conftest import wait_for

S = ObservedState
SYSTEM = Actor.system()


def run(asset: Any) -> Any:
    do_wake_asset(asset, actor=SYSTEM)
    return wait_state(asset, S.RUNNING)


def test_each_model_goes_to_the_live_host_with_most_room_and_back_to_its_last_host(
    hosts: Cluster, fake_model: Any
) -> None:
    first = run(fake_model("first", vram_gb=10))
    second = run(fake_model("second", vram_gb=10))
    third = run(fake_model("third", vram_gb=8))
    assert (first.host, second.host, third.host) == ("gpu-a", "gpu-b", "gpu-a")
    assert hosts.launched_on("gpu-a") >= {"first", "third"}
    assert "second" in hosts.launched_on("gpu-b")
    placed = LifecycleEvent.objects.filter(asset__asset_id="second", to_state=S.STARTING).first()
    assert placed is not None
    assert placed.detail.startswith("placed on gpu-b: needs 10 GB VRAM, 16 free")
    assert (first.reserved_vram_gb, first.reserved_ram_gb) == (10, 0)
    host = Host.objects.get(name="gpu-a")  # what its worker's heartbeat says
    assert (host.queues, host.declared_vram_gb, host.vram_capacity_gb) == (["hub", "hub.host.gpu-a"], 24, 24)
    assert host.version.startswith("hub ")
    assert host.cpu_count == os.cpu_count()
    # the worker measures what each process placed on its host uses (RSS; no NVML here)
    wait_for(lambda: (state(first.asset).measured_ram_mb or 0) > 0, what="first's RSS to be measured")

    do_sleep_asset(first.asset, actor=SYSTEM)
    wait_state(first.asset, S.SLEEPING)
    again = run(first.asset)  # gpu-a has 16 free, gpu-b 6: its last host
    assert again.host == "gpu-a"


def test_a_cpu_model_is_placed_by_its_ram(hosts: Cluster, fake_model: Any) -> None:
    rs = run(fake_model("cpu-embed", ram_gb=40))  # only gpu-a and gpu-b declare 64 GB of RAM
    assert rs.host in {"gpu-a", "gpu-b"}
    assert (rs.reserved_ram_gb, rs.reserved_vram_gb) == (40, 0)


def test_waking_on_a_full_host_evicts_the_least_recently_used_idle_model(
    hosts: Cluster, fake_model: Any
) -> None:
    old = run(fake_model("old", vram_gb=4, host="gpu-c"))
    recent = run(fake_model("recent", vram_gb=4, host="gpu-c"))
    assert old.ready_at < recent.ready_at  # "old" is the least recently used

    newcomer = fake_model("newcomer", vram_gb=4, host="gpu-c")
    do_wake_asset(newcomer, actor=SYSTEM)
    assert state(old.asset).state in (S.STOPPING, S.SLEEPING)  # evicted at once, in the wake
    assert state(recent.asset).state == S.RUNNING
    wait_state(old.asset, S.SLEEPING)
    assert wait_state(newcomer, S.RUNNING).host == "gpu-c"
    assert "old" not in hosts.launched_on("gpu-c")
    evicted = LifecycleEvent.objects.get(asset=old.asset, to_state=S.STOPPING)
    assert evicted.reason == "evicted (least recently used idle) to make room for newcomer on gpu-c"
    assert evicted.detail == "newcomer needs 4 GB VRAM; 0 free; old held 4"


def test_nothing_under_a_lease_or_desired_running_is_evicted_and_the_wake_fails_at_once(
    hosts: Cluster, fake_model: Any, make_user: Any
) -> None:
    leased = run(fake_model("leased", vram_gb=4, host="gpu-c"))
    always = fake_model("always", vram_gb=4, host="gpu-c", desired="running")
    reconcile_all()  # what beat does: a desired-running model is started
    wait_state(always, S.RUNNING)
    lease = leases.acquire("leased", 2, 60)
    assert lease is not None

    blocked = fake_model("blocked", vram_gb=4, host="gpu-c")
    with pytest.raises(NoCapacity) as refused:
        do_wake_asset(blocked, actor=SYSTEM)
    reason = str(refused.value)
    assert "host gpu-c: needs 4 GB VRAM, 0 of 8 GB free" in reason
    assert "leased 4 GB (holds a lease)" in reason
    assert "always 4 GB (desired running)" in reason
    assert state(leased.asset).state == S.RUNNING
    assert state(always).state == S.RUNNING
    assert state(blocked).state == S.STOPPED

    admin = make_user(superuser=True)
    _, secret = do_create_token(admin, actor=Actor(user=admin, source="cli"), scopes=["read", "operate"])
    response = Client(HTTP_AUTHORIZATION=f"Bearer {secret}").post("/api/v1/assets/blocked/wake")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "no_capacity"
    assert "host gpu-c: needs 4 GB VRAM, 0 of 8 GB free" in error["message"]


def test_a_lost_host_marks_its_models_unreachable_and_its_running_ones_move(
    hosts: Cluster, fake_model: Any
) -> None:
    napper = run(fake_model("napper", vram_gb=2))
    assert napper.host == "gpu-a"
    moving = fake_model("moving", vram_gb=12, desired="running")
    reconcile_all()
    assert wait_state(moving, S.RUNNING).host == "gpu-a"
    pinned = run(fake_model("pinned", vram_gb=2, host="gpu-a"))
    idle = run(fake_model("idle", vram_gb=2))
    assert idle.host == "gpu-b"

    hosts.kill("gpu-a")

    def failed_over() -> bool:
        reconcile_all()  # what beat does every 10 s
        return state(moving).state == S.RUNNING and state(moving).host != "gpu-a"

    wait_for(failed_over, timeout=60, what="moving to run on another host")
    assert state(moving).host == "gpu-b"  # the only live host with 12 GB
    lost = LifecycleEvent.objects.get(asset=moving, to_state=S.UNREACHABLE)
    assert lost.reason.startswith("host gpu-a unreachable: no heartbeat for")
    replaced = LifecycleEvent.objects.filter(asset=moving, to_state=S.STARTING).first()
    assert replaced is not None
    assert replaced.reason == "re-placed: host gpu-a unreachable"
    assert state(pinned.asset).state == S.UNREACHABLE  # pinned: it waits for its host
    assert state(idle.asset).state == S.RUNNING  # on gpu-b: untouched
    assert state(napper.asset).state == S.UNREACHABLE  # on-demand: it moves when woken
    assert run(napper.asset).host == "gpu-c"  # gpu-b has 2 GB left, gpu-c 8

    with pytest.raises(NoCapacity, match=r"host gpu-a is unreachable \(last heartbeat \d+s ago\)"):
        do_wake_asset(pinned.asset, actor=SYSTEM)

    hosts.start("gpu-a")  # the host comes back
    hosts.wait_registered()
    wait_for(
        lambda: not {"moving", "napper"} & hosts.launched_on("gpu-a"),
        what="gpu-a to stop the copies that moved",
    )

    def back() -> bool:
        reconcile_all()
        return state(pinned.asset).state == S.SLEEPING

    wait_for(back, timeout=60, what="the pinned model's leftover process to be stopped")
    assert "pinned" not in hosts.launched_on("gpu-a")
    assert LifecycleEvent.objects.filter(
        asset=pinned.asset, reason="host gpu-a is back; restarting cleanly"
    ).exists()
    assert state(moving).host == "gpu-b"
