"""``python -m hub.serve``: the web port in ``HUB_GATEWAY_WORKERS`` processes, a dead one replaced,
and a clear refusal of a bad worker count."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import child_env
from tests.test_up import free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent


def children(pid: int) -> set[int]:
    """The serving processes under ``pid`` (uvicorn spawns them; a resource tracker sits beside)."""
    out = subprocess.run(
        ["ps", "-ww", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True, text=True
    ).stdout
    return {int(line.split()[0]) for line in out.splitlines() if "spawn_main" in line}


def ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_web_port_is_served_by_hub_gateway_workers_processes_and_a_dead_one_is_replaced(
    tmp_path: Path, django_db_setup: None
) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    env = child_env(HUB_DEV="1", HUB_GATEWAY_WORKERS="2")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: ready(port) and len(children(proc.pid)) == 2, "two serving processes", log)
        first = children(proc.pid)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        wait_until(
            lambda: len(now := children(proc.pid)) == 2 and victim not in now,
            "the killed process replaced",
            log,
        )
        assert first - {victim} < children(proc.pid)  # the other one lives on beside its replacement
        wait_until(lambda: ready(port), "serving again", log)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)


def test_a_worker_count_below_one_is_refused_with_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hub.serve", "--workers", "0"],
        cwd=ROOT,
        env={**os.environ, "HUB_DEV": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--workers / HUB_GATEWAY_WORKERS: at least 1, got 0" in result.stderr
