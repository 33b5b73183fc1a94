"""Lifecycle fixtures: assets with launched fake runtimes, a real Celery worker, process counts."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from models_admin.models import Asset
from models_admin.validation import validate_asset_document
from runtimes.lifecycle import clock
from tests.conftest import child_env
from tests.lifecycle import shared_clock

REPO = Path(__file__).resolve().parents[2]
FAKE_LLAMA = REPO / "tests" / "fakes" / "llama_cpp.py"
KILLER = REPO / "tests" / "lifecycle" / "killer.py"

# Small numbers so the worker's backoff and give-up paths finish quickly.
WORKER_SETTINGS = {
    "HUB_BACKOFF_BASE_S": "0.2",
    "HUB_BACKOFF_CAP_S": "1",
    "HUB_RESTART_MAX_ATTEMPTS": "3",
    "HUB_TASK_MAX_DELIVERIES": "3",
}


def wait_for(predicate: Callable[[], Any], *, timeout: float = 60.0, what: str = "condition") -> Any:
    """Poll until ``predicate()`` is truthy; fail the test (not a timing assertion) if never."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def processes_with(marker: str) -> list[int]:
    """Pids of live (non-zombie) processes whose command line contains ``marker``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
            continue
        if marker in cmdline and state not in ("Z", "X") and int(entry.name) != os.getpid():
            pids.append(int(entry.name))
    return pids


@pytest.fixture
def lifecycle_settings(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The launcher's state under tmp_path, the worker's small backoff, a shared test clock."""
    runtime_dir = tmp_path / "runtimes"
    settings.HUB_RUNTIME_LOG_DIR = runtime_dir
    for name, value in WORKER_SETTINGS.items():
        setattr(settings, name, float(value) if "." in value else int(value))
    monkeypatch.setattr(clock, "now", clock.now)  # restored at the end
    shared_clock.install()
    clock.reset()
    shared_clock.reset()
    yield runtime_dir
    clock.reset()
    shared_clock.reset()


@pytest.fixture
def markers() -> Iterator[list[str]]:
    """Strings naming the test's runtime processes; whatever still runs is killed at the end."""
    found: list[str] = []
    yield found
    for marker in found:
        for pid in processes_with(marker):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def make_asset(tmp_path: Path, markers: list[str]) -> Callable[..., Asset]:
    """``make_asset(asset_id, desired=..., command=...)``: a live asset with a launched runtime."""

    def make(
        asset_id: str,
        *,
        desired: str = "on-demand",
        auto_sleep_min: int = 15,
        load_time: float = 0.3,
        command: list[str] | None = None,
    ) -> Asset:
        model_file = tmp_path / f"{asset_id}.gguf"
        model_file.write_bytes(b"GGUF")
        markers.append(str(model_file))
        argv = command or [
            sys.executable,
            str(FAKE_LLAMA),
            "-m",
            str(model_file),
            "--load-time",
            str(load_time),
        ]
        doc = validate_asset_document(
            {
                "asset_id": asset_id,
                "display_name": asset_id,
                "version": "1.0.0",
                "interface": "llm-runtime",
                "interface_version": "v1",
                "class": "model",
                "lifecycle": {"desired": desired, "auto_sleep_min": auto_sleep_min},
                "policy": {"max_concurrency": 2},
                "metadata": {"context_length": 4096},
                "runtime": {
                    "kind": "llama-cpp",
                    "model": asset_id,
                    "launch": {
                        "command": argv,
                        "env": {"PYTHONPATH": str(REPO)},
                        "ready_timeout_s": 60,
                    },
                },
            }
        )
        return Asset.objects.create(
            asset_id=asset_id,
            display_name=asset_id,
            version="1.0.0",
            interfaces=["llm-runtime"],
            spec=doc,
            live_spec=doc,
        )

    return make


class Workers:
    """Real ``celery -A hub worker`` processes pointed at the test database."""

    def __init__(self, runtime_dir: Path, log_dir: Path) -> None:
        self.runtime_dir = runtime_dir
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, concurrency: int = 1) -> subprocess.Popen[bytes]:
        name = f"w{len(self.procs) + 1}"
        env = child_env(**WORKER_SETTINGS, HUB_RUNTIME_LOG_DIR=str(self.runtime_dir))
        env.pop("DJANGO_SETTINGS_MODULE", None)
        log = (self.log_dir / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.lifecycle.clock_worker",  # celery, on the test's shared clock
                "-A",
                "hub",
                "worker",
                "-n",
                f"{name}@%h",
                "-Q",
                f"hub,hub.host.{socket.gethostname()}",
                "--concurrency",
                str(concurrency),
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "DEBUG",  # the "succeeded" lines of routine tasks are DEBUG: finished() reads them
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        wait_for(
            lambda: b"ready." in (self.log_dir / f"{name}.log").read_bytes() or proc.poll() is not None,
            timeout=90,
            what=f"worker {name} to start",
        )
        assert proc.poll() is None, (self.log_dir / f"{name}.log").read_text()
        return proc

    def finished(self, *results: Any, timeout: float = 60.0) -> None:
        """Wait until a worker has run each task (``.delay()``'s result) to its end, as the
        worker's log says: a test that asserts what a task did not do must first see it done."""
        ids = [re.escape(str(result.id)) for result in results]

        def done() -> bool:
            logs = "".join(
                (self.log_dir / f"w{n}.log").read_text(errors="replace")
                for n in range(1, len(self.procs) + 1)
            )
            return all(re.search(rf"\[{i}\] (succeeded|raised|retry|ignored|rejected)", logs) for i in ids)

        wait_for(done, timeout=timeout, what=f"{len(ids)} task(s) to finish")

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def workers(
    transactional_db: Any, lifecycle_settings: Path, redis_client: Any, tmp_path: Path, markers: list[str]
) -> Iterator[Workers]:
    """Start workers with ``workers.start()``; all are stopped (SIGTERM, then SIGKILL) after."""
    pool = Workers(lifecycle_settings, tmp_path)
    yield pool
    pool.stop()
