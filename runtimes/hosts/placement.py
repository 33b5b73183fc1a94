"""Where a runtime goes: a pure decision over a snapshot of hosts (no database, no clock).

``decide`` picks, for one runtime's need (VRAM when it needs a GPU, else RAM):

1. the pinned host when there is one (``runtime.host``); else
2. the host it ran on last, if it has room now; else
3. the live host with the most room that fits it; else
4. a host where putting idle models to sleep makes room: the last host first, else the one
   needing the fewest evictions. Only idle on-demand models are evicted (no lease, not
   ``desired: running``, not starting or stopping), least recently used first.

When nothing fits even after every allowed eviction, the answer says why: per host, what is
needed, what is free, and what holds the rest (``Decision.reason``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

REASON_HOSTS = 5  # hosts named in a refusal; the rest are counted


@dataclass(frozen=True)
class Need:
    gpu: bool
    gb: float  # min_vram_gb when ``gpu``, else min_ram_gb (0 when the document declares none)

    @property
    def unit(self) -> str:
        return "GB VRAM" if self.gpu else "GB RAM"


@dataclass(frozen=True)
class Placed:
    """A runtime holding room on a host."""

    asset_id: str
    gb: float  # in the unit of the need being placed
    evictable: bool
    why_kept: str = ""  # "lease", "desired running", "starting", … when not evictable
    last_used: datetime | None = None


@dataclass(frozen=True)
class HostRoom:
    name: str
    live: bool
    capacity_gb: float  # in the unit of the need
    has_gpu: bool
    placed: tuple[Placed, ...] = ()
    heartbeat_age_s: float = 0.0

    @property
    def used_gb(self) -> float:
        return sum(p.gb for p in self.placed)

    @property
    def free_gb(self) -> float:
        return self.capacity_gb - self.used_gb


@dataclass(frozen=True)
class Decision:
    host: str | None  # None: refused (see ``reason``)
    evict: tuple[Placed, ...] = ()
    reason: str = ""
    free_gb: float = 0.0
    considered: list[str] = field(default_factory=list)

    @property
    def placed(self) -> bool:
        return self.host is not None


def _fmt(gb: float) -> str:
    return f"{gb:.1f}".rstrip("0").rstrip(".")


def _stamp(at: datetime | None) -> float:
    return at.timestamp() if at is not None else 0.0


def _eligible(room: HostRoom, need: Need) -> bool:
    return room.live and (room.has_gpu or not need.gpu) and room.capacity_gb >= need.gb


def _evictions(room: HostRoom, need: Need) -> tuple[Placed, ...] | None:
    """The least recently used idle models whose sleep makes room, or None if none can."""
    free = room.free_gb
    if free >= need.gb:
        return ()
    chosen: list[Placed] = []
    idle = sorted((p for p in room.placed if p.evictable), key=lambda p: (_stamp(p.last_used), p.asset_id))
    for p in idle:
        chosen.append(p)
        free += p.gb
        if free >= need.gb:
            return tuple(chosen)
    return None


def _refusal(room: HostRoom, need: Need) -> str:
    if not room.live:
        return f"host {room.name} is unreachable (last heartbeat {room.heartbeat_age_s:.0f}s ago)"
    if need.gpu and not room.has_gpu:
        return f"host {room.name} has no GPU"
    holders = ", ".join(
        f"{p.asset_id} {_fmt(p.gb)} GB ({p.why_kept or 'idle'})"
        for p in sorted(room.placed, key=lambda p: -p.gb)[:8]
    )
    return (
        f"host {room.name}: needs {_fmt(need.gb)} {need.unit}, {_fmt(max(0.0, room.free_gb))} of "
        f"{_fmt(room.capacity_gb)} GB free, held by {holders or 'nothing'}"
    )


def decide(
    need: Need, rooms: list[HostRoom], *, pinned: str | None = None, last: str | None = None
) -> Decision:
    """Where to place a runtime needing ``need``; see the module's docstring for the order."""
    if pinned is not None:
        rooms = [r for r in rooms if r.name == pinned]
        if not rooms:
            return Decision(host=None, reason=f"host {pinned} has never registered (no worker has run there)")
    candidates = [r for r in rooms if _eligible(r, need)]
    fitting = [r for r in candidates if r.free_gb >= need.gb]
    preferred = [r for r in fitting if r.name == last]
    if preferred or fitting:
        best = preferred[0] if preferred else max(fitting, key=lambda r: (r.free_gb, r.name))
        return Decision(host=best.name, free_gb=best.free_gb)
    plans = [(r, e) for r in candidates if (e := _evictions(r, need)) is not None]
    if plans:
        room, evict = min(plans, key=lambda pe: (pe[0].name != last, len(pe[1]), pe[0].name))
        return Decision(host=room.name, evict=evict, free_gb=room.free_gb)
    if not rooms:
        return Decision(host=None, reason="no host has registered a heartbeat")
    why = [_refusal(r, need) for r in sorted(rooms, key=lambda r: (not r.live, -r.free_gb, r.name))]
    more = f"; and {len(why) - REASON_HOSTS} more hosts" if len(why) > REASON_HOSTS else ""
    what = f"nothing can be evicted to fit {_fmt(need.gb)} {need.unit}"
    return Decision(host=None, reason=f"{what}: " + "; ".join(why[:REASON_HOSTS]) + more)
