"""Each host as people and the API see it: capacity, what is placed on it and what that uses.

One read for the Hosts page, ``GET /api/v1/hosts`` and ``/metrics``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from runtimes.hosts import registry
from runtimes.models import Host

MB_PER_GB = 1024.0


@dataclass(frozen=True)
class PlacedModel:
    asset_id: str
    state: str
    declared_vram_gb: float
    declared_ram_gb: float
    measured_vram_mb: int | None
    measured_ram_mb: int | None
    vram_gb: float  # what placement counts: the larger of declared and measured
    ram_gb: float


@dataclass(frozen=True)
class HostView:
    name: str
    live: bool
    heartbeat_age_s: float
    last_heartbeat_at: datetime
    unreachable_since: datetime | None
    version: str
    queues: list[str]
    cpu_count: int
    gpus: list[dict[str, Any]]
    declared: bool  # capacity declared (HUB_HOST_*_GB) rather than measured
    vram_capacity_gb: float
    ram_capacity_gb: float
    ram_total_mb: int
    ram_free_mb: int
    placed: list[PlacedModel] = field(default_factory=list)

    @property
    def vram_used_gb(self) -> float:
        return sum(p.vram_gb for p in self.placed)

    @property
    def ram_used_gb(self) -> float:
        return sum(p.ram_gb for p in self.placed)

    @property
    def vram_used_pct(self) -> int:
        return _pct(self.vram_used_gb, self.vram_capacity_gb)

    @property
    def ram_used_pct(self) -> int:
        return _pct(self.ram_used_gb, self.ram_capacity_gb)


def _pct(used: float, capacity: float) -> int:
    return min(100, round(100 * used / capacity)) if capacity > 0 else 0


def _gpu_view(gpu: dict[str, Any]) -> dict[str, Any]:
    total, free = int(gpu.get("vram_total_mb") or 0), int(gpu.get("vram_free_mb") or 0)
    return {**gpu, "vram_used_mb": max(0, total - free), "used_pct": _pct(total - free, total)}


def hosts_overview(limit: int = 500) -> list[HostView]:
    hosts = list(Host.objects.order_by("name")[:limit])
    now = timezone.now()
    by_host: dict[str, list[PlacedModel]] = {}
    for rs in registry.placed_states([h.name for h in hosts]).order_by("asset__asset_id"):
        use = registry.use_of(rs)
        by_host.setdefault(rs.host, []).append(
            PlacedModel(
                asset_id=rs.asset.asset_id,
                state=str(rs.state),
                declared_vram_gb=rs.reserved_vram_gb,
                declared_ram_gb=rs.reserved_ram_gb,
                measured_vram_mb=rs.measured_vram_mb,
                measured_ram_mb=rs.measured_ram_mb,
                vram_gb=use.vram_gb,
                ram_gb=use.ram_gb,
            )
        )
    return [
        HostView(
            name=h.name,
            live=registry.is_live(h, now=now),
            heartbeat_age_s=registry.heartbeat_age_s(h, now=now),
            last_heartbeat_at=h.last_heartbeat_at,
            unreachable_since=h.unreachable_since,
            version=h.version,
            queues=list(h.queues or []),
            cpu_count=h.cpu_count,
            gpus=[_gpu_view(g) for g in (h.gpus or []) if isinstance(g, dict)],
            declared=h.declared_vram_gb is not None or h.declared_ram_gb is not None,
            vram_capacity_gb=h.vram_capacity_gb,
            ram_capacity_gb=h.ram_capacity_gb,
            ram_total_mb=h.ram_total_mb,
            ram_free_mb=h.ram_free_mb,
            placed=by_host.get(h.name, []),
        )
        for h in hosts
    ]


def host_of_assets(asset_ids: list[str]) -> dict[str, str]:
    """asset id -> the host its runtime is placed on now (only assets placed somewhere)."""
    rows = (
        registry.placed_states().filter(asset__asset_id__in=asset_ids).values_list("asset__asset_id", "host")
    )
    return {str(a): str(h) for a, h in rows}
