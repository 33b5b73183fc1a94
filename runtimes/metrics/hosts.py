"""Host capacity and use for ``/metrics``: per host (capacity, placed use, heartbeat age, GPU
memory) and per asset (declared and measured VRAM, with the usual asset labels plus ``host``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

from runtimes.hosts.overview import hosts_overview

GB = 1024**3
MB = 1024**2


def host_metrics(labels: Callable[[str], list[str]], asset_labels: list[str]) -> Iterator[Metric]:
    """``labels(asset_id)`` gives an asset's label values (``asset_labels`` their names)."""
    up = GaugeMetricFamily("hub_host_up", "1 while the host heartbeats, 0 once unreachable.", labels=["host"])
    age = GaugeMetricFamily(
        "hub_host_heartbeat_age_seconds", "Age of the host's last heartbeat.", labels=["host"]
    )
    capacity = GaugeMetricFamily(
        "hub_host_capacity_bytes",
        "Capacity placement counts with (declared or measured).",
        labels=["host", "resource"],
    )
    placed = GaugeMetricFamily(
        "hub_host_placed_bytes",
        "What runtimes placed on the host use (declared or measured, the larger).",
        labels=["host", "resource"],
    )
    gpu_total = GaugeMetricFamily(
        "hub_host_gpu_memory_total_bytes", "GPU memory (NVML).", labels=["host", "gpu"]
    )
    gpu_used = GaugeMetricFamily(
        "hub_host_gpu_memory_used_bytes", "GPU memory in use (NVML).", labels=["host", "gpu"]
    )
    names = [*asset_labels, "host"]
    vram_declared = GaugeMetricFamily(
        "hub_asset_vram_declared_bytes", "VRAM the asset declares (min_vram_gb).", labels=names
    )
    vram_measured = GaugeMetricFamily(
        "hub_asset_vram_measured_bytes", "VRAM its process uses (NVML).", labels=names
    )
    rss = GaugeMetricFamily("hub_asset_memory_rss_bytes", "Resident memory of its process.", labels=names)
    for host in hosts_overview():
        up.add_metric([host.name], 1.0 if host.live else 0.0)
        age.add_metric([host.name], host.heartbeat_age_s)
        capacity.add_metric([host.name, "vram"], host.vram_capacity_gb * GB)
        capacity.add_metric([host.name, "ram"], host.ram_capacity_gb * GB)
        placed.add_metric([host.name, "vram"], host.vram_used_gb * GB)
        placed.add_metric([host.name, "ram"], host.ram_used_gb * GB)
        for gpu in host.gpus:
            gpu_total.add_metric(
                [host.name, str(gpu.get("index"))], float(gpu.get("vram_total_mb") or 0) * MB
            )
            gpu_used.add_metric([host.name, str(gpu.get("index"))], float(gpu.get("vram_used_mb") or 0) * MB)
        for p in host.placed:
            values = [*labels(p.asset_id), host.name]
            vram_declared.add_metric(values, p.declared_vram_gb * GB)
            if p.measured_vram_mb is not None:
                vram_measured.add_metric(values, p.measured_vram_mb * MB)
            if p.measured_ram_mb is not None:
                rss.add_metric(values, p.measured_ram_mb * MB)
    yield from (up, age, capacity, placed, gpu_total, gpu_used, vram_declared, vram_measured, rss)
