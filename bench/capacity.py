"""What placement and eviction cost.

1. Wake → routed, with and without an eviction. A real Celery worker is one host with 8 GB of
   VRAM declared; on-demand fake ``llama-server`` models each declare 4 GB. "Routed" is the
   moment the gateway's resolve (``runtimes.gateway.resolve.inspect``) returns a target.
   - without: one model runs (4 of 8 GB); a second is woken into the free room;
   - with: two models run (8 of 8 GB); a third is woken, the least recently used is put to
     sleep first and the new one starts once that stop has finished.
2. Placement decisions per second with 100 hosts and 1,000 placed models: the pure decision
   (``runtimes.hosts.placement.decide`` over a snapshot), and the whole of it as a wake runs it
   (``runtimes.lifecycle.capacity.rooms``: hosts and placed models from PostgreSQL, leases
   from Redis, then the decision).

Usage: ``uv run python bench/capacity.py [--runs 5] [--load-time 0.5]`` (uses DATABASE_URL /
REDIS_URL like the hub). Prints a table and, as its last line, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
os.environ.setdefault("HUB_TESTING", "1")
os.environ.setdefault("HUB_LAUNCH_ALLOWED_EXECUTABLES", sys.executable)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from models_admin.audit import Actor  # noqa: E402
from models_admin.models import Asset  # noqa: E402
from models_admin.validation import validate_asset_document  # noqa: E402
from runtimes.errors import RuntimeAdapterError  # noqa: E402
from runtimes.gateway.resolve import inspect  # noqa: E402
from runtimes.hosts.placement import HostRoom, Need, Placed, decide  # noqa: E402
from runtimes.lifecycle import capacity, do_sleep_asset, do_wake_asset  # noqa: E402
from runtimes.models import Host, RuntimeState  # noqa: E402

HOST = "bench-capacity"
PREFIX = f"bench-cap-{os.getpid()}"
SYSTEM = Actor.system()


def start_worker(runtime_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.DATABASE_URL,
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "HUB_RUNTIME_LOG_DIR": str(runtime_dir),
        "HUB_HOST_NAME": HOST,
        "HUB_HOST_VRAM_GB": "8",
        "HUB_HOST_HEARTBEAT_S": "0.5",
        "PYTHONPATH": str(REPO),
    }
    return subprocess.Popen(
        [
            *(
                sys.executable,
                "-m",
                "celery",
                "-A",
                "hub",
                "worker",
                "-n",
                f"{HOST}@%h",
                "--concurrency",
                "2",
            ),
            *("-Q", f"hub.host.{HOST}", "--without-gossip", "--without-mingle", "--without-heartbeat"),
            *("--loglevel", "WARNING"),
        ],
        cwd=REPO,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def model(asset_id: str, tmp: Path, load_time: float) -> Asset:
    weights = tmp / f"{asset_id}.gguf"
    weights.write_bytes(b"GGUF")
    command = [
        sys.executable,
        str(REPO / "tests/fakes/llama_cpp.py"),
        "-m",
        str(weights),
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
            "resources": {"gpu_required": True, "min_vram_gb": 4},
            "lifecycle": {"desired": "on-demand", "auto_sleep_min": 15},
            "metadata": {"context_length": 4096},
            "runtime": {
                "kind": "llama-cpp",
                "model": asset_id,
                "launch": {"command": command, "env": {"PYTHONPATH": str(REPO)}, "ready_timeout_s": 60},
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


def wait_state(asset: Asset, wanted: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rs = RuntimeState.objects.filter(asset=asset).first()
        if rs is not None and rs.state == wanted:
            return
        if rs is not None and rs.state == "failed":
            raise SystemExit(f"{asset.asset_id} failed: {rs.last_error}")
        time.sleep(0.005)
    raise SystemExit(f"timed out waiting for {asset.asset_id} {wanted}")


def wake_to_routed_ms(asset: Asset) -> float:
    began = time.perf_counter()
    do_wake_asset(asset, actor=SYSTEM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            inspect(asset.asset_id, None, wake=False)
            return (time.perf_counter() - began) * 1000
        except RuntimeAdapterError:
            time.sleep(0.002)
    raise SystemExit(f"{asset.asset_id} was never routable")


def sleep(*assets: Asset) -> None:
    for asset in assets:
        do_sleep_asset(asset, actor=SYSTEM)
    for asset in assets:
        wait_state(asset, "sleeping")


def wake_routed(runs: int, load_time: float) -> dict[str, list[float]]:
    tmp = Path(tempfile.mkdtemp(prefix="hub-bench-capacity-"))
    a, b, c = (model(f"{PREFIX}-{n}", tmp, load_time) for n in "abc")
    worker = start_worker(tmp / "runtimes", tmp / "worker.log")
    out: dict[str, list[float]] = {"without_eviction": [], "with_eviction": []}
    try:
        deadline = time.monotonic() + 90
        while not Host.objects.filter(
            name=HOST, last_heartbeat_at__gte=timezone.now() - timedelta(seconds=3)
        ).exists():
            if time.monotonic() > deadline:
                raise SystemExit(
                    "the bench worker never heartbeated: " + (tmp / "worker.log").read_text()[-2000:]
                )
            time.sleep(0.1)
        do_wake_asset(a, actor=SYSTEM)
        wait_state(a, "running")
        for run in range(runs + 1):  # run 0 warms up and is not counted
            without = wake_to_routed_ms(c)  # a runs: 4 of 8 GB, c fits
            sleep(c)
            do_wake_asset(b, actor=SYSTEM)
            wait_state(b, "running")  # a and b run: 8 of 8 GB
            with_ = wake_to_routed_ms(c)  # evicts a (least recently used)
            wait_state(a, "sleeping")
            if run:
                out["without_eviction"].append(without)
                out["with_eviction"].append(with_)
            sleep(c, b)
            do_wake_asset(a, actor=SYSTEM)
            wait_state(a, "running")
    finally:
        for asset in (a, b, c):
            if RuntimeState.objects.filter(asset=asset, state="running").exists():
                do_sleep_asset(asset, actor=SYSTEM)
        time.sleep(1)
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
        Asset.objects.filter(asset_id__startswith=PREFIX).delete()
        Host.objects.filter(name=HOST).delete()
    return out


def synthetic_rooms(hosts: int, per_host: int) -> list[HostRoom]:
    now = timezone.now()
    return [
        HostRoom(
            name=f"h{h:03d}",
            live=True,
            capacity_gb=80,
            has_gpu=True,
            placed=tuple(
                Placed(
                    f"m{h:03d}-{i:02d}",
                    8,
                    evictable=i % 3 != 0,
                    why_kept="" if i % 3 else "holds a lease",
                    last_used=now - timedelta(minutes=i),
                )
                for i in range(per_host)
            ),
        )
        for h in range(hosts)
    ]


def decisions_per_s(hosts: int, assets: int, seconds: float = 2.0) -> float:
    rooms = synthetic_rooms(hosts, assets // hosts)
    need = Need(gpu=True, gb=8)  # every host is full: each decision plans an eviction
    count, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        decide(need, rooms, last=f"h{count % hosts:03d}")
        count += 1
    return count / (time.perf_counter() - began)


def snapshot_decisions_per_s(hosts: int, assets: int, seconds: float = 3.0) -> tuple[float, float]:
    """Hosts and placed models in PostgreSQL (leases in Redis), as ``capacity.place`` reads them:
    (per second when a host has room, per second when every host is full and an eviction is planned)."""
    now = timezone.now()
    Host.objects.bulk_create(
        Host(
            name=f"{PREFIX}-h{h:03d}",
            declared_vram_gb=80,
            registered_at=now,
            last_heartbeat_at=now + timedelta(hours=1),
        )
        for h in range(hosts)
    )
    made = Asset.objects.bulk_create(
        Asset(
            asset_id=f"{PREFIX}-m{i:04d}",
            display_name="m",
            version="1",
            interfaces=["llm-runtime"],
            spec={},
            live_spec={
                "lifecycle": {"desired": "on-demand"},
                "resources": {"gpu_required": True, "min_vram_gb": 8},
            },
        )
        for i in range(assets)
    )
    RuntimeState.objects.bulk_create(
        RuntimeState(
            asset=a, state="running", host=f"{PREFIX}-h{i % hosts:03d}", reserved_vram_gb=8, ready_at=now
        )
        for i, a in enumerate(made)
    )
    try:
        need = Need(gpu=True, gb=8)
        rates = []
        for room_left in (True, False):
            Host.objects.filter(name__startswith=PREFIX).update(declared_vram_gb=96 if room_left else 80)
            count, began = 0, time.perf_counter()
            while time.perf_counter() - began < seconds:
                decision = decide(need, capacity.rooms(need, leases_known=False))
                if decision.evict:  # as place() does: an eviction is planned knowing the leases
                    decide(need, capacity.rooms(need))
                count += 1
            rates.append(count / (time.perf_counter() - began))
        return rates[0], rates[1]
    finally:
        Asset.objects.filter(asset_id__startswith=PREFIX).delete()
        Host.objects.filter(name__startswith=PREFIX).delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--load-time", type=float, default=0.5, help="the fake runtime's load time (s)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    call_command("migrate", interactive=False, verbosity=0)

    routed = wake_routed(args.runs, args.load_time)
    pure = decisions_per_s(100, 1000)
    with_room, full = snapshot_decisions_per_s(100, 1000)

    summary: dict[str, Any] = {"runs": len(routed["with_eviction"]), "load_time_s": args.load_time}
    print(f"capacity bench: fake llama-server, load time {args.load_time:g} s, {summary['runs']} runs")
    print(f"{'wake → routed':<34}{'median ms':>12}{'max ms':>10}")
    for key, values in routed.items():
        med, top = statistics.median(values), max(values)
        print(f"{key.replace('_', ' '):<34}{med:>12.1f}{top:>10.1f}")
        summary[f"wake_to_routed_{key}_median_ms"] = round(med, 1)
        summary[f"wake_to_routed_{key}_max_ms"] = round(top, 1)
    extra = (
        summary["wake_to_routed_with_eviction_median_ms"]
        - summary["wake_to_routed_without_eviction_median_ms"]
    )
    summary["eviction_extra_median_ms"] = round(extra, 1)
    print(f"{'extra cost of the eviction':<34}{extra:>12.1f}")
    print("placement, 100 hosts, 1,000 placed models:")
    print(f"{'  decision alone (all full, evicting)':<44}{pure:>10,.0f} /s")
    print(f"{'  with snapshot, a host has room':<44}{with_room:>10,.1f} /s")
    print(f"{'  with snapshot, all full (evicting)':<44}{full:>10,.1f} /s")
    summary["placement_decisions_per_s"] = round(pure, 1)
    summary["placement_with_snapshot_room_per_s"] = round(with_room, 1)
    summary["placement_with_snapshot_full_per_s"] = round(full, 1)
    summary["hosts"], summary["assets"] = 100, 1000
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
