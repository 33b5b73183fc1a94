"""Wake latency the hub adds, and how fast it notices a runtime is ready.

Starts a real Celery worker and wakes an on-demand asset whose runtime is the fake
``llama-server`` with a known load time, several times. Independent pollers watch the
runtime process appear and its ``/health`` turn 200, so the runtime's own start-up is
measured apart from the hub's part:

- hub_before_spawn: wake asked → the runtime process exists (commit, enqueue, task pickup, lock)
- detection:        runtime healthy → the hub marked it running (target ≤ 500 ms)
- added:            the two together: the wake latency the hub adds (target ≤ 300 ms)

The first wake after the worker starts (cold: imports, connections) is reported on its own
row, not dropped. Then the same wake as a client sees it: a chat request through the gateway
(uvicorn serving ``hub.asgi``) to the sleeping model, whose answer waits for the wake;
``gateway_added`` is that request's time minus the runtime's own start-up (spawn → healthy),
so it includes the gateway's resolve, its polling of the waking model and the proxying.

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

from bench.gateway_rig import hub_command  # noqa: E402
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_hub(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The hub (``python -m hub.serve``, one process) on a free port, on the bench's database and Redis."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.DATABASE_URL,
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "PYTHONPATH": str(REPO),
        "LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        hub_command(port),
        cwd=REPO,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return proc, base
        time.sleep(0.1)
    raise SystemExit(f"the hub did not come up: {log.read_text()[-2000:]}")


def wait_for_host(name: str, timeout: float = 60.0) -> None:
    """Until the worker has registered its host (placement needs a live host to start on)."""
    from runtimes.hosts import registry

    deadline = time.monotonic() + timeout
    while not registry.live_hosts().filter(name=name).exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"the worker never registered host {name}")
        time.sleep(0.05)


def bench_token() -> str:
    from django.contrib.auth import get_user_model

    from actions.tokens import do_create_token

    user, _ = get_user_model().objects.get_or_create(
        username="bench-lifecycle", defaults={"is_superuser": True}
    )
    _, secret = do_create_token(
        user, actor=Actor(user=user, source="cli"), scopes=["inference"], name="bench"
    )
    return str(secret)


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
    wait_for_host(settings.HUB_HOST_NAME)
    rows: list[dict[str, float]] = []
    cold: list[dict[str, float]] = []
    via_gateway: list[dict[str, float]] = []
    hub = None
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
            if "healthy" in marks:
                (rows if run else cold).append(
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
        # The same wake as a client sees it: a request through the gateway to the sleeping model.
        hub, base = start_hub(tmp / "hub.log")
        headers = {"Authorization": f"Bearer {bench_token()}"}
        chat = {"model": asset_id, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            for _ in range(args.runs):
                marks = {}
                stop = threading.Event()
                watcher = threading.Thread(target=watch_runtime, args=(str(model), marks, stop), daemon=True)
                watcher.start()
                sent = time.perf_counter()
                response = client.post("/v1/chat/completions", json=chat)
                total_ms = (time.perf_counter() - sent) * 1000
                watcher.join(timeout=5)
                stop.set()
                if response.status_code != 200:
                    raise SystemExit(f"gateway: {response.status_code} {response.text[:300]}")
                if "healthy" in marks:
                    startup_ms = (marks["healthy"] - marks["spawned"]) * 1000
                    via_gateway.append(
                        {
                            "gateway_wake_request_ms": total_ms,
                            "gateway_added_ms": total_ms - startup_ms,
                        }
                    )
                do_sleep_asset(asset, actor=Actor.system())
                wait_state(asset, "sleeping")
    finally:
        if hub is not None:
            os.killpg(hub.pid, signal.SIGTERM)
            hub.wait(timeout=20)
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=20)
        asset.delete()

    print(f"lifecycle wake bench: fake llama-server, load time {args.load_time:g} s, {len(rows)} runs")
    print(f"{'figure':<36}{'median':>10}{'min':>10}{'max':>10}")
    summary: dict[str, Any] = {"load_time_s": args.load_time, "runs": len(rows)}
    for label, found in (("", rows), ("gateway: ", via_gateway)):
        for key in found[0] if found else ():
            values = [r[key] for r in found]
            med, low, top = statistics.median(values), min(values), max(values)
            print(f"{label + key:<36}{med:>10.1f}{low:>10.1f}{top:>10.1f}")
            summary[key.replace("_ms", "_median_ms")] = round(med, 1)
            summary[key.replace("_ms", "_min_ms")] = round(low, 1)
            summary[key.replace("_ms", "_max_ms")] = round(top, 1)
    for key, value in (cold[0] if cold else {}).items():
        print(f"{'cold ' + key:<36}{value:>10.1f}")
        summary["cold_" + key] = round(value, 1)
    summary["target_added_ms"] = 300
    summary["target_detection_ms"] = 500
    print("targets: added ≤ 300 ms, detection ≤ 500 ms")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
