"""What this machine has: GPUs (NVIDIA's NVML, when a driver answers), RAM, CPUs, and what one
process uses (RSS from the kernel, GPU memory from NVML). No Django here.

NVML is optional at run time, not at install time: ``nvidia-ml-py`` is always installed, and a
machine without an NVIDIA driver makes ``nvmlInit`` fail, which means "no GPUs" here.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

import pynvml

MB = 1024 * 1024


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    vram_total_mb: int
    vram_free_mb: int

    def to_dict(self) -> dict[str, int | str]:
        return {
            "index": self.index,
            "name": self.name,
            "vram_total_mb": self.vram_total_mb,
            "vram_free_mb": self.vram_free_mb,
        }


@dataclass(frozen=True)
class Machine:
    cpu_count: int
    ram_total_mb: int
    ram_free_mb: int
    gpus: list[Gpu] = field(default_factory=list)
    gpu_mb_by_pid: dict[int, int] = field(default_factory=dict)


def _meminfo() -> tuple[int, int]:
    """(total, available) RAM in MB, from ``/proc/meminfo`` (sysconf where there is none)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            fields = {line.split(":")[0]: int(line.split()[1]) for line in fh if len(line.split()) >= 2}
        return fields.get("MemTotal", 0) // 1024, fields.get("MemAvailable", fields.get("MemFree", 0)) // 1024
    except (OSError, ValueError):
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        return pages * size // MB, 0


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _nvml() -> tuple[list[Gpu], dict[int, int]]:
    """GPUs and GPU memory per pid; ([], {}) when NVML cannot start (no driver, no GPU)."""
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return [], {}
    try:
        gpus: list[Gpu] = []
        by_pid: dict[int, int] = {}
        for index in range(pynvml.nvmlDeviceGetCount()):
            device = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(device)
            gpus.append(
                Gpu(
                    index,
                    _text(pynvml.nvmlDeviceGetName(device)),
                    int(memory.total) // MB,
                    int(memory.free) // MB,
                )
            )
            try:
                processes = pynvml.nvmlDeviceGetComputeRunningProcesses(device)
            except pynvml.NVMLError:
                processes = []
            for proc in processes:
                used = getattr(proc, "usedGpuMemory", None)
                if isinstance(used, int):
                    by_pid[int(proc.pid)] = by_pid.get(int(proc.pid), 0) + used // MB
        return gpus, by_pid
    except pynvml.NVMLError:
        return [], {}
    finally:
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()


def machine() -> Machine:
    total, free = _meminfo()
    gpus, by_pid = _nvml()
    return Machine(os.cpu_count() or 0, total, free, gpus, by_pid)


def rss_mb(pid: int) -> int | None:
    """Resident memory of ``pid`` in MB; None when the process is gone (or not ours to read)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError):
        return None
    return None
