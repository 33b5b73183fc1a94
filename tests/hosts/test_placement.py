"""The placement decision on its own: which host, which idle models to evict, and why not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runtimes.hosts.placement import HostRoom, Need, Placed, decide

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def idle(asset_id: str, gb: float, minutes_ago: float) -> Placed:
    return Placed(asset_id, gb, evictable=True, last_used=T0 - timedelta(minutes=minutes_ago))


def kept(asset_id: str, gb: float, why: str) -> Placed:
    return Placed(asset_id, gb, evictable=False, why_kept=why, last_used=T0)


def room(name: str, capacity: float, *placed: Placed, live: bool = True, gpu: bool = True) -> HostRoom:
    return HostRoom(name, live, capacity, gpu, tuple(placed))


GPU8 = Need(gpu=True, gb=8)


def test_the_host_with_most_room_wins_when_there_is_no_last_host() -> None:
    decision = decide(GPU8, [room("a", 24, kept("x", 12, "lease")), room("b", 24), room("c", 16)])
    assert (decision.host, decision.evict) == ("b", ())


def test_the_last_host_is_preferred_when_it_has_room() -> None:
    decision = decide(GPU8, [room("a", 24, kept("x", 12, "lease")), room("b", 24)], last="a")
    assert decision.host == "a"


def test_a_pinned_host_is_the_only_candidate() -> None:
    decision = decide(GPU8, [room("a", 24), room("b", 10, idle("old", 6, 30))], pinned="b")
    assert decision.host == "b"
    assert [p.asset_id for p in decision.evict] == ["old"]


def test_unreachable_hosts_and_hosts_without_a_gpu_are_never_chosen() -> None:
    decision = decide(GPU8, [room("dead", 80, live=False), room("cpu", 80, gpu=False), room("ok", 8)])
    assert decision.host == "ok"


def test_a_cpu_need_places_on_a_host_without_a_gpu() -> None:
    decision = decide(Need(gpu=False, gb=4), [room("cpu", 16, gpu=False)])
    assert decision.host == "cpu"


def test_eviction_takes_least_recently_used_idle_models_until_it_fits() -> None:
    full = room(
        "a", 24, idle("recent", 8, 1), idle("oldest", 4, 60), idle("older", 4, 30), kept("busy", 8, "lease")
    )
    decision = decide(GPU8, [full])
    assert decision.host == "a"
    assert [p.asset_id for p in decision.evict] == ["oldest", "older"]


def test_the_host_needing_fewest_evictions_is_chosen_when_none_has_room() -> None:
    a = room("a", 16, idle("a1", 4, 5), idle("a2", 4, 10), idle("a3", 8, 1))
    b = room("b", 16, idle("b1", 8, 1), idle("b2", 8, 2))
    decision = decide(GPU8, [a, b])
    assert decision.host == "b"
    assert [p.asset_id for p in decision.evict] == ["b2"]


def test_models_under_a_lease_or_desired_running_are_never_evicted() -> None:
    decision = decide(
        GPU8, [room("a", 16, kept("leased", 8, "holds a lease"), kept("pinned", 8, "desired running"))]
    )
    assert decision.host is None
    assert decision.evict == ()
    assert "host a: needs 8 GB VRAM, 0 of 16 GB free" in decision.reason
    assert "leased 8 GB (holds a lease)" in decision.reason
    assert "pinned 8 GB (desired running)" in decision.reason


def test_the_refusal_names_an_unreachable_pinned_host() -> None:
    dead = HostRoom("gpu-a", False, 24, True, (), heartbeat_age_s=42)
    decision = decide(GPU8, [dead, room("b", 24)], pinned="gpu-a")
    assert decision.host is None
    assert "host gpu-a is unreachable (last heartbeat 42s ago)" in decision.reason


def test_a_need_bigger_than_any_host_is_refused_with_every_host_named() -> None:
    decision = decide(Need(gpu=True, gb=100), [room("a", 24), room("b", 48)])
    assert decision.host is None
    assert "host a" in decision.reason
    assert "host b" in decision.reason
    assert "needs 100 GB VRAM" in decision.reason
