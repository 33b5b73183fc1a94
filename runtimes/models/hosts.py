"""Hosts: the machines whose workers run launched runtimes, as their heartbeats describe them.

A worker upserts its row every ``HUB_HOST_HEARTBEAT_S`` (``runtimes.hosts.heartbeat``). A host
whose last heartbeat is older than ``HUB_HOST_STALE_S`` is unreachable; the lifecycle's failover
pass then marks ``unreachable_since`` and moves what it can (``runtimes.lifecycle.failover``).
Capacity is what the worker declared (``HUB_HOST_VRAM_GB`` / ``HUB_HOST_RAM_GB``) or, when it
declared nothing, what it measured (NVML for GPUs, the kernel for RAM).
"""

from __future__ import annotations

from typing import Any

from django.db import models

MB_PER_GB = 1024.0


class Host(models.Model):
    name = models.CharField(
        max_length=200, unique=True, help_text="HUB_HOST_NAME: its queue is hub.host.<name>."
    )
    version = models.CharField(max_length=64, blank=True, default="", help_text="The worker's Hub version.")
    queues = models.JSONField(default=list, help_text="The Celery queues its worker consumes.")
    cpu_count = models.PositiveIntegerField(default=0)
    ram_total_mb = models.PositiveBigIntegerField(default=0, help_text="Measured.")
    ram_free_mb = models.PositiveBigIntegerField(default=0, help_text="Measured (available).")
    gpus = models.JSONField(
        default=list, help_text="[{index, name, vram_total_mb, vram_free_mb}] from NVML; [] without one."
    )
    declared_vram_gb = models.FloatField(null=True, blank=True, help_text="HUB_HOST_VRAM_GB, if set.")
    declared_ram_gb = models.FloatField(null=True, blank=True, help_text="HUB_HOST_RAM_GB, if set.")
    registered_at = models.DateTimeField()
    last_heartbeat_at = models.DateTimeField(db_index=True)
    unreachable_since = models.DateTimeField(
        null=True, blank=True, help_text="Set by the failover pass when the heartbeat went stale."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def vram_capacity_gb(self) -> float:
        if self.declared_vram_gb is not None:
            return float(self.declared_vram_gb)
        return sum(int(g.get("vram_total_mb") or 0) for g in self._gpus()) / MB_PER_GB

    @property
    def ram_capacity_gb(self) -> float:
        if self.declared_ram_gb is not None:
            return float(self.declared_ram_gb)
        return self.ram_total_mb / MB_PER_GB

    def _gpus(self) -> list[dict[str, Any]]:
        return [g for g in (self.gpus or []) if isinstance(g, dict)]
