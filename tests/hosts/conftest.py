"""A cluster on this machine: real Celery workers, each its own host (``HUB_HOST_NAME``) with a
declared capacity, heartbeating fast; launched fake runtimes that declare their use.

The workers live for the module (starting three costs seconds); each test gets a flushed
database, and waits for every live worker to have registered its host again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from models_admin.models import Asset
from models_admin.validation import validate_asset_document
from runtimes.hosts import registry
from runtimes.launcher import Launcher
from runtimes.lifecycle.transitions import state_of
from runtimes.models import Host, RuntimeState
from tests.conftest import child_env
from tests.lifecycle.conftest import FAKE_LLAMA, REPO, processes_with, wait_for

HEARTBEAT_S = 0.3
STALE_S = 3.0
# (name, declared VRAM GB, declared RAM GB)
HOSTS = (("gpu-a", 24.0, 64.0), ("gpu-b", 16.0, 64.0), ("gpu-c", 8.0, 32.0))


class Cluster:
    def __init__(self, root: Path, hosts: tuple[tuple[str, float, float], ...] = HOSTS) -> None:
        self.root = root
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.capacity = {name: (vram, ram) for name, vram, ram in hosts}

    def runtime_dir(self, host: str) -> Path:
        return self.root / host / "runtimes"

    def log(self, host: str) -> Path:
        return self.root / f"{host}.log"

    def start(self, host: str) -> None:
        vram, ram = self.capacity[host]
        env = child_env(
            HUB_HOST_NAME=host,
            HUB_HOST_VRAM_GB=str(vram),
            HUB_HOST_RAM_GB=str(ram),
            HUB_HOST_HEARTBEAT_S=str(HEARTBEAT_S),
            HUB_HOST_STALE_S=str(STALE_S),
            HUB_RUNTIME_LOG_DIR=str(self.runtime_dir(host)),
            HUB_BACKOFF_BASE_S="0.2",
            HUB_BACKOFF_CAP_S="1",
        )
        env.pop("DJANGO_SETTINGS_MODULE", None)
        self.runtime_dir(host).mkdir(parents=True, exist_ok=True)
        out = self.log(host).open("ab")
        self.procs[host] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "hub",
                "worker",
                "-n",
                f"{host}@%h",
                "-Q",
                f"hub,hub.host.{host}",
                "--concurrency",
                "2",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "INFO",
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self, host: str) -> None:
        """SIGKILL the worker (its main process and pool): no goodbye, the heartbeat just stops."""
        proc = self.procs.pop(host)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def wait_registered(self) -> None:
        names = set(self.procs)

        def fresh() -> bool:
            live = registry.live_hosts().filter(name__in=names).values_list("name", flat=True)
            return names <= set(live)

        wait_for(fresh, timeout=120, what=f"hosts {sorted(names)} to heartbeat")

    def launched_on(self, host: str) -> set[str]:
        """Asset ids whose runtime process the worker of ``host`` launched and is alive."""
        launcher = Launcher(str(self.runtime_dir(host)))
        return {key for key, handle in launcher.recorded().items() if launcher.is_alive(handle)}

    def stop_all(self) -> None:
        """Stop the workers, then the runtimes they launched (which outlive a worker by design)."""
        hosts = list(self.capacity)
        for host in list(self.procs):
            proc = self.procs.pop(host)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for host in hosts:
            launcher = Launcher(str(self.runtime_dir(host)))
            for handle in launcher.recorded().values():
                with contextlib.suppress(Exception):
                    launcher.stop(handle, grace_s=5)


@pytest.fixture(scope="module")
def cluster(django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: Any) -> Iterator[Cluster]:
    sim = Cluster(tmp_path_factory.mktemp("cluster"))
    for name, _, _ in HOSTS:
        sim.start(name)
    yield sim
    sim.stop_all()
    forget_hosts(django_db_blocker)


def forget_hosts(django_db_blocker: Any) -> None:
    """The workers are gone, but their last heartbeats may have landed after the last test's
    flush: later tests must not see these hosts (placement would send starts there)."""
    with django_db_blocker.unblock():
        Host.objects.all().delete()


@pytest.fixture
def hosts(cluster: Cluster, transactional_db: Any, redis_client: Any, settings: Any) -> Cluster:
    """The cluster, registered in this test's (flushed) database; the test process reads
    staleness as the workers do."""
    settings.HUB_HOST_STALE_S = STALE_S
    settings.HUB_HOST_HEARTBEAT_S = HEARTBEAT_S
    for name in cluster.capacity:
        if name not in cluster.procs:
            cluster.start(name)  # a test before this one killed it
    cluster.wait_registered()
    return cluster


@pytest.fixture
def fake_model(tmp_path: Path) -> Iterator[Callable[..., Asset]]:
    """``fake_model(asset_id, vram_gb=…, desired=…, host=…)``: a live launched fake llama-server
    whose document declares what it uses (``resources.min_vram_gb``)."""
    made: list[str] = []

    def make(
        asset_id: str,
        *,
        vram_gb: float = 4,
        desired: str = "on-demand",
        host: str | None = None,
        ram_gb: float | None = None,
    ) -> Asset:
        model_file = tmp_path / f"{asset_id}.gguf"
        model_file.write_bytes(b"GGUF")
        made.append(str(model_file))
        runtime: dict[str, Any] = {
            "kind": "llama-cpp",
            "model": asset_id,
            "launch": {
                "command": [sys.executable, str(FAKE_LLAMA), "-m", str(model_file), "--load-time", "0.2"],
                "env": {"PYTHONPATH": str(REPO)},
                "ready_timeout_s": 60,
            },
        }
        if host:
            runtime["host"] = host
        resources: dict[str, Any] = (
            {"gpu_required": False, "min_ram_gb": ram_gb}
            if ram_gb is not None
            else {"gpu_required": True, "min_vram_gb": vram_gb}
        )
        doc = validate_asset_document(
            {
                "asset_id": asset_id,
                "display_name": asset_id,
                "version": "1.0.0",
                "interface": "llm-runtime",
                "interface_version": "v1",
                "class": "model",
                "resources": resources,
                "lifecycle": {"desired": desired, "auto_sleep_min": 15},
                "policy": {"max_concurrency": 2},
                "metadata": {"context_length": 4096},
                "runtime": runtime,
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

    yield make
    for marker in made:
        for pid in processes_with(marker):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


def state(asset: Asset) -> RuntimeState:
    return state_of(asset)


def wait_state(asset: Asset, wanted: str, *, timeout: float = 60) -> RuntimeState:
    def reached() -> RuntimeState | None:
        rs = state(asset)
        return rs if rs.state == wanted else None

    found: RuntimeState = wait_for(reached, timeout=timeout, what=f"{asset.asset_id} {wanted}")
    return found
