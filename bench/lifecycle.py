"""Wake latency the hub adds, and how fast it notices a runtime is ready.

Starts a real Celery worker and wakes an on-demand asset whose runtime is the fake
``llama-server`` with a known load time, several times. Independent pollers watch the
runtime process appear and its ``/health`` turn 200, so the runtime's own start-up is
measured apart from the hub's part:

- hub_before_spawn: wake asked → the runtime process exists (commit, enqueue, task pickup, lock)
- detection:        runtime healthy → the hub marked it running (target ≤ 500 ms)
- added:            the two together: the wake latency the hub adds (target ≤ 300 ms)

Usage: ``uv run python bench/lifecycle.py [--runs 5] [--load-time 1.0]`` (uses
DATABASE_URL / REDIS_URL like the hub, or the embedded servers). Prints a table and,
as its last line, one JSON object with the same figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
os.environ.setdefault("HUB_TESTING", "1")
# The fake llama-server is launched with this interpreter: the only executable allowed here.
os.environ.setdefault("HUB_LAUNCH_ALLOWED_EXECUTABLES", sys.executable)

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from models_admin.audit import Actor  # noqa: E402
from models_admin.models import Asset  # noqa: E402
from models_admin.validation import validate_asset_document  # noqa: E402
from runtimes.lifecycle import do_sleep_asset, do_wake_asset  # noqa: E402
from runtimes.models import RuntimeState  # noqa: E402


def find_process(marker: str) -> tuple[int, list[str]] | None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if any(marker in a for a in argv) and int(entry.name) != os.getpid():
            return int(entry.name), argv
    return None


def watch_runtime(marker: str, out: dict[str, float], stop: threading.Event) -> None:
    """Record when the process first exists and when its /health first answers 200."""
    found = None
    while not stop.is_set() and found is None:
        found = find_process(marker)
        if found is None:
            time.sleep(0.002)
    if found is None:
        return
    out["spawned"] = time.time()
    argv = found[1]
    port = argv[argv.index("--port") + 1]
    with httpx.Client(timeout=0.5) as client:
        while not stop.is_set():
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    out["healthy"] = time.time()
                    return
            time.sleep(0.005)


def start_worker(runtime_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.DATABASE_URL,
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "HUB_RUNTIME_LOG_DIR": str(runtime_dir),
        "PYTHONPATH": str(REPO),
    }
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "hub", "worker", "-n", "bench@%h", "--concurrency", "1"),
            *("-Q", f"hub,hub.host.{socket.gethostname()}", "--without-gossip", "--without-mingle"),
            *("--without-heartbeat", "--loglevel", "WARNING"),
        ],
        cwd=REPO,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    time.sleep(0.5)
    return proc


def wait_state(asset: Asset, wanted: str, timeout: float = 60.0) -> RuntimeState:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rs = RuntimeState.objects.get(asset=asset)
        if rs.state == wanted:
            return rs
        if rs.state == "failed":
            raise SystemExit(f"runtime failed: {rs.last_error}")
        time.sleep(0.005)
    raise SystemExit(f"timed out waiting for {wanted}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--load-time", type=float, default=1.0, help="the fake runtime's load time (s)")
    args = parser.parse_args()

    logging.getLogger("httpx").setLevel(logging.WARNING)
    call_command("migrate", interactive=False, verbosity=0)
    tmp = Path(tempfile.mkdtemp(prefix="hub-bench-lifecycle-"))
    model = tmp / "bench-model.gguf"
    model.write_bytes(b"GGUF")
    asset_id = f"bench-lifecycle-{os.getpid()}"
    doc = validate_asset_document(
        {
            "asset_id": asset_id,
            "display_name": "bench",
            "version": "1.0.0",
            "interface": "llm-runtime",
            "interface_version": "v1",
            "class": "model",
            "lifecycle": {"desired": "on-demand", "auto_sleep_min": 15},
            "metadata": {"context_length": 4096},
            "runtime": {
                "kind": "llama-cpp",
                "model": "bench",
                "launch": {
                    "command": [
                        *(sys.executable, str(REPO / "tests/fakes/llama_cpp.py"), "-m", str(model)),
                        *("--load-time", str(args.load_time)),
                    ],
                    "env": {"PYTHONPATH": str(REPO)},
                    "ready_timeout_s": 60,
                },
            },
        }
    )
    asset = Asset.objects.create(
        asset_id=asset_id,
        display_name="bench",
        version="1.0.0",
        interfaces=["llm-runtime"],
        spec=doc,
        live_spec=doc,
    )
    worker = start_worker(tmp / "runtimes", tmp / "worker.log")
    rows: list[dict[str, float]] = []
    try:
        for run in range(args.runs + 1):  # run 0 warms the worker up and is not counted
            marks: dict[str, float] = {}
            stop = threading.Event()
            watcher = threading.Thread(target=watch_runtime, args=(str(model), marks, stop), daemon=True)
            watcher.start()
            woke = time.time()
            do_wake_asset(asset, actor=Actor.system())
            rs = wait_state(asset, "running")
            seen = time.time()
            watcher.join(timeout=5)
            stop.set()
            assert rs.ready_at is not None
            ready = rs.ready_at.timestamp()
            if run and "healthy" in marks:
                rows.append(
                    {
                        "hub_before_spawn_ms": (marks["spawned"] - woke) * 1000,
                        "runtime_startup_ms": (marks["healthy"] - marks["spawned"]) * 1000,
                        "detection_ms": (ready - marks["healthy"]) * 1000,
                        "added_ms": ((marks["spawned"] - woke) + (ready - marks["healthy"])) * 1000,
                        "wake_to_running_seen_ms": (seen - woke) * 1000,
                    }
                )
            do_sleep_asset(asset, actor=Actor.system())
            wait_state(asset, "sleeping")
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=20)
        asset.delete()

    keys = list(rows[0])
    print(f"lifecycle wake bench: fake llama-server, load time {args.load_time:g} s, {len(rows)} runs")
    print(f"{'figure':<28}{'median':>10}{'max':>10}")
    summary: dict[str, Any] = {"load_time_s": args.load_time, "runs": len(rows)}
    for key in keys:
        values = [r[key] for r in rows]
        med, top = statistics.median(values), max(values)
        print(f"{key:<28}{med:>10.1f}{top:>10.1f}")
        summary[key.replace("_ms", "_median_ms")] = round(med, 1)
        summary[key.replace("_ms", "_max_ms")] = round(top, 1)
    summary["target_added_ms"] = 300
    summary["target_detection_ms"] = 500
    print("targets: added ≤ 300 ms, detection ≤ 500 ms")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
