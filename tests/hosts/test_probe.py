"""What a worker reports about its machine: CPUs, RAM, GPUs (NVML, when a driver answers) and
what one process uses. On a machine without an NVIDIA driver NVML's init fails: no GPUs."""

from __future__ import annotations

import os
import subprocess
import sys

import pynvml
import pytest

from runtimes.hosts import probe


def test_the_machine_reports_its_cpus_and_ram() -> None:
    machine = probe.machine()
    assert machine.cpu_count == os.cpu_count()
    assert machine.ram_total_mb > 0
    assert 0 < machine.ram_free_mb <= machine.ram_total_mb


def test_gpus_come_from_nvml_and_none_without_a_driver() -> None:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        expected = 0
    else:
        expected = pynvml.nvmlDeviceGetCount()
        pynvml.nvmlShutdown()
    gpus = probe.machine().gpus
    assert len(gpus) == expected
    assert [g.index for g in gpus] == list(range(expected))
    assert all(0 <= g.vram_free_mb <= g.vram_total_mb for g in gpus)


def test_a_process_rss_is_read_and_a_gone_process_has_none() -> None:
    assert (probe.rss_mb(os.getpid()) or 0) > 0
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert probe.rss_mb(child.pid) is None


@pytest.mark.parametrize("unreadable", [-1, 0])
def test_an_impossible_pid_has_no_rss(unreadable: int) -> None:
    assert probe.rss_mb(unreadable) is None
