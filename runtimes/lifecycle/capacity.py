"""Placement and eviction, applied: where a launched runtime starts, and who sleeps to make room.

``place`` runs inside the transaction that moves an asset to ``starting``, under one advisory
lock (two wakes never both take the last free room). It reads a snapshot of the live hosts and
what holds room on them, asks ``runtimes.hosts.placement.decide``, puts the chosen idle models
to sleep (each a lifecycle event saying for whom), and returns the fields the ``starting``
transition records: the host and the declared use. With no host registered at all (a hub
whose workers have never heartbeated) nothing is placed: any worker may start it, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from models_admin.models import Asset
from runtimes import leases
from runtimes.hosts import registry
from runtimes.hosts.placement import Decision, HostRoom, Need, Placed, decide
from runtimes.lifecycle import clock, dispatch
from runtimes.lifecycle.errors import NoCapacity
from runtimes.lifecycle.policy import Policy
from runtimes.lifecycle.transitions import transition
from runtimes.models import Host, ObservedState, RuntimeState

S = ObservedState
_LOCK_CLASS = 0x504C4143  # "PLAC": the advisory-lock namespace of placement
# States the decision counts as holding room: a stop in flight is room being freed (a start
# on that host waits for it; see ``stops_pending``).
HOLDING = (S.STARTING, S.RUNNING)


@dataclass(frozen=True)
class Placement:
    fields: dict[str, Any] = field(default_factory=dict)  # for the ``starting`` transition
    detail: str = ""  # for its lifecycle event


def need_of(asset: Asset) -> Need:
    resources = (asset.live_spec or {}).get("resources") or {}
    gpu = bool(resources.get("gpu_required"))
    amount = resources.get("min_vram_gb" if gpu else "min_ram_gb")
    return Need(gpu=gpu, gb=float(amount or 0))


# One row per placed runtime, read as plain values (no model instances: a snapshot of a
# thousand placed models stays cheap).
_ROW = (
    "asset_id",
    "asset__asset_id",
    "host",
    "state",
    "reserved_vram_gb",
    "reserved_ram_gb",
    "measured_vram_mb",
    "measured_ram_mb",
    "last_request_at",
    "ready_at",
    "asset__live_spec__lifecycle__desired",
)


def _placed(row: tuple[Any, ...], need: Need, leased: dict[str, int]) -> Placed:
    _, asset_id, _, state, vram, ram, vram_mb, ram_mb, last_request, ready, desired = row
    why = ""
    if state != S.RUNNING:
        why = str(state)
    elif desired == "running":
        why = "desired running"
    elif leased.get(asset_id):
        why = "holds a lease"
    marks = [t for t in (last_request, ready) if t is not None]
    use = max(vram, (vram_mb or 0) / 1024.0) if need.gpu else max(ram, (ram_mb or 0) / 1024.0)
    return Placed(
        asset_id=asset_id, gb=use, evictable=not why, why_kept=why, last_used=max(marks) if marks else None
    )


def rooms(need: Need, *, exclude_asset: int | None = None, leases_known: bool = True) -> list[HostRoom]:
    """Every registered host as the decision sees it, for ``need``'s unit.

    ``leases_known=False`` skips asking Redis which models hold a lease (each then counts as
    idle): enough to find a host with free room; an eviction plan must be made with them."""
    hosts = list(
        Host.objects.only(
            "name", "last_heartbeat_at", "gpus", "declared_vram_gb", "declared_ram_gb", "ram_total_mb"
        )
    )
    rows = [
        row
        for row in RuntimeState.objects.filter(
            state__in=HOLDING, host__in=[h.name for h in hosts]
        ).values_list(*_ROW)
        if row[0] != exclude_asset
    ]
    maybe_idle = [row[1] for row in rows if row[3] == S.RUNNING and row[-1] != "running"]
    leased = leases.active_counts(maybe_idle) if maybe_idle and leases_known else {}
    now = timezone.now()
    by_host: dict[str, list[Placed]] = {}
    for row in rows:
        by_host.setdefault(row[2], []).append(_placed(row, need, leased))
    return [
        HostRoom(
            name=h.name,
            live=registry.is_live(h, now=now),
            capacity_gb=h.vram_capacity_gb if need.gpu else h.ram_capacity_gb,
            has_gpu=h.vram_capacity_gb > 0,
            placed=tuple(by_host.get(h.name, ())),
            heartbeat_age_s=registry.heartbeat_age_s(h, now=now),
        )
        for h in hosts
    ]


def _lock() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, 0)", [_LOCK_CLASS])


def place(asset: Asset, policy: Policy, rs: RuntimeState) -> Placement:
    """Choose the host for a start of ``asset`` (evicting idle models there if it must).

    Call inside the transaction that moves it to ``starting``. Raises ``NoCapacity`` with
    the reason when no host can take it. A runtime already holding room (a restart) keeps it.
    """
    if not policy.launched or rs.state in (S.RUNNING, S.STARTING, S.STOPPING):
        return Placement()
    if not registry.any_registered():
        return Placement()
    _lock()
    need = need_of(asset)
    decision = decide(
        need,
        rooms(need, exclude_asset=asset.pk, leases_known=False),
        pinned=policy.host,
        last=rs.host or None,
    )
    if decision.host is None or decision.evict:  # evicting (or refusing): decide knowing the leases
        decision = decide(need, rooms(need, exclude_asset=asset.pk), pinned=policy.host, last=rs.host or None)
    if decision.host is None:
        raise NoCapacity(f"{asset.asset_id}: {decision.reason}")
    _evict(asset, decision, need)
    freed = sum(p.gb for p in decision.evict)
    note = f"placed on {decision.host}: needs {need.gb:g} {need.unit}, {decision.free_gb + freed:g} free"
    if decision.evict:
        note += " after evicting " + ", ".join(p.asset_id for p in decision.evict)
    fields: dict[str, Any] = {}
    if rs.state == S.UNREACHABLE:  # what ran on the lost host is not this start's to adopt or stop
        fields = {"process": None, "base_url": ""}
    return Placement(
        fields={
            **fields,
            "host": decision.host,
            "reserved_vram_gb": need.gb if need.gpu else 0.0,
            "reserved_ram_gb": 0.0 if need.gpu else need.gb,
            "measured_vram_mb": None,
            "measured_ram_mb": None,
        },
        detail=note,
    )


def start_placed(asset: Asset, policy: Policy, rs: RuntimeState, *, reason: str, **fields: Any) -> None:
    """Place ``asset`` and move it to ``starting`` there, in one transaction; ``NoCapacity``
    (nothing changed) when no host has room and nothing can be evicted."""
    with transaction.atomic():
        placement = place(asset, policy, rs)
        transition(
            rs,
            ObservedState.STARTING,
            reason=reason,
            detail=placement.detail,
            started_at=clock.now(),
            ready_at=None,
            **fields,
            **placement.fields,
        )


def _evict(asset: Asset, decision: Decision, need: Need) -> None:
    """Put each chosen idle model to sleep, saying for whom; its own host's reconcile stops it."""
    for victim in decision.evict:
        rs = RuntimeState.objects.select_related("asset").get(asset__asset_id=victim.asset_id)
        reason = f"evicted (least recently used idle) to make room for {asset.asset_id} on {decision.host}"
        transition(
            rs,
            S.STOPPING,
            reason=reason,
            detail=f"{asset.asset_id} needs {need.gb:g} {need.unit}; {decision.free_gb:g} free; "
            f"{victim.asset_id} held {victim.gb:g}",
        )
        dispatch.reconcile_on_commit(rs.asset)


def stops_pending(rs: RuntimeState) -> bool:
    """Another runtime on this start's host is still stopping (an eviction): wait for it,
    at most ``HUB_EVICTION_WAIT_S`` after that stop began, before loading into its room."""
    if not rs.host:
        return False
    since = clock.now() - timedelta(seconds=float(settings.HUB_EVICTION_WAIT_S))
    return (
        RuntimeState.objects.filter(host=rs.host, state=S.STOPPING, updated_at__gte=since)
        .exclude(pk=rs.pk)
        .exists()
    )
