"""The host registry: heartbeats in, live hosts and what is placed on them out.

Times here are wall-clock (``django.utils.timezone.now``): a heartbeat's age is real time
on every machine, whatever a test does to the lifecycle's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from runtimes.hosts.probe import Machine, rss_mb
from runtimes.models import Host, ObservedState, RuntimeState

S = ObservedState
PLACED_STATES = (S.STARTING, S.RUNNING, S.STOPPING)
"""States in which a runtime holds room on its host (a stop frees it when it ends)."""


def stale_after_s() -> float:
    return float(settings.HUB_HOST_STALE_S)


def heartbeat_s() -> float:
    return float(settings.HUB_HOST_HEARTBEAT_S)


def record_heartbeat(name: str, machine: Machine, *, queues: list[str], version: str) -> Host:
    """Register or refresh this worker's host; a host that was unreachable is live again."""
    now = timezone.now()
    values: dict[str, Any] = {
        "version": version[:64],
        "queues": sorted(set(queues))[:50],
        "cpu_count": machine.cpu_count,
        "ram_total_mb": machine.ram_total_mb,
        "ram_free_mb": machine.ram_free_mb,
        "gpus": [g.to_dict() for g in machine.gpus][:16],
        "declared_vram_gb": settings.HUB_HOST_VRAM_GB,
        "declared_ram_gb": settings.HUB_HOST_RAM_GB,
        "last_heartbeat_at": now,
        "unreachable_since": None,
    }
    host, _ = Host.objects.update_or_create(
        name=name, defaults=values, create_defaults={**values, "registered_at": now}
    )
    return host


def record_measured_use(name: str, machine: Machine) -> None:
    """RSS and GPU memory of each runtime process placed on host ``name`` (this machine)."""
    for rs in RuntimeState.objects.filter(host=name, state__in=PLACED_STATES, process__isnull=False):
        pid = (rs.process or {}).get("pid")
        if not isinstance(pid, int):
            continue
        RuntimeState.objects.filter(pk=rs.pk).update(
            measured_ram_mb=rss_mb(pid), measured_vram_mb=machine.gpu_mb_by_pid.get(pid)
        )


def is_live(host: Host, *, now: datetime | None = None) -> bool:
    return (now or timezone.now()) - host.last_heartbeat_at <= timedelta(seconds=stale_after_s())


def heartbeat_age_s(host: Host, *, now: datetime | None = None) -> float:
    return max(0.0, ((now or timezone.now()) - host.last_heartbeat_at).total_seconds())


def live_hosts() -> QuerySet[Host]:
    cutoff = timezone.now() - timedelta(seconds=stale_after_s())
    return Host.objects.filter(last_heartbeat_at__gte=cutoff)


def stale_hosts() -> QuerySet[Host]:
    """Hosts whose heartbeat is older than the bound (whether or not already marked)."""
    cutoff = timezone.now() - timedelta(seconds=stale_after_s())
    return Host.objects.filter(last_heartbeat_at__lt=cutoff)


def any_registered() -> bool:
    return Host.objects.exists()


def placed_states(host_names: list[str] | None = None) -> QuerySet[RuntimeState]:
    """Runtime states holding room on a host (on ``host_names`` only, when given)."""
    query = RuntimeState.objects.filter(state__in=PLACED_STATES).exclude(host="").select_related("asset")
    if host_names is not None:
        query = query.filter(host__in=host_names)
    return query


@dataclass(frozen=True)
class Use:
    """What one placed runtime uses: the larger of its declaration and the measurement."""

    vram_gb: float
    ram_gb: float


def use_of(rs: RuntimeState) -> Use:
    vram = max(rs.reserved_vram_gb, (rs.measured_vram_mb or 0) / 1024.0)
    ram = max(rs.reserved_ram_gb, (rs.measured_ram_mb or 0) / 1024.0)
    return Use(vram, ram)
