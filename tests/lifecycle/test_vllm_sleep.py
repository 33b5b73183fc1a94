"""A launched vLLM sleeps in place (``/sleep?level=1``) and wakes with ``/wake_up``; without
sleep mode it is stopped instead. The fake vLLM process answers its sleep endpoints only in
dev mode (``VLLM_SERVER_DEV_MODE=1``) and sleeps only with ``--enable-sleep-mode``, as vLLM does."""

from __future__ import annotations

import sys
from typing import Any

import httpx
import pytest

from models_admin.audit import Actor
from models_admin.models import Asset
from models_admin.validation import validate_asset_document
from runtimes.lifecycle import do_sleep_asset, do_wake_asset, reconcile
from runtimes.models import ObservedState, RuntimeState
from tests.lifecycle.conftest import REPO, processes_with

S = ObservedState
FAKE_VLLM = REPO / "tests" / "fakes" / "vllm.py"

pytestmark = pytest.mark.slow


def launched_vllm(asset_id: str, markers: list[str], env: dict[str, str] | None = None) -> Asset:
    marker = f"fake/{asset_id}"
    markers.append(marker)
    doc = validate_asset_document(
        {
            "asset_id": asset_id,
            "display_name": asset_id,
            "version": "1.0.0",
            "interface": "llm-runtime",
            "interface_version": "v1",
            "class": "model",
            "lifecycle": {"desired": "on-demand", "auto_sleep_min": 15},
            "metadata": {"context_length": 4096},
            "runtime": {
                "kind": "vllm",
                "model": marker,
                "launch": {
                    "command": [sys.executable, str(FAKE_VLLM), "serve", marker, "--load-time", "0.2"],
                    "env": {"PYTHONPATH": str(REPO), **(env or {})},
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


def is_sleeping(base_url: str) -> Any:
    return httpx.get(base_url + "/is_sleeping", timeout=5).json()["is_sleeping"]


def test_a_launched_vllm_sleeps_in_place_and_wakes_without_a_restart(
    transactional_db: Any, lifecycle_settings: Any, markers: list[str], redis_client: Any
) -> None:
    asset = launched_vllm("vllm-sleepy", markers)
    do_wake_asset(asset, actor=Actor.system())
    assert reconcile(asset.asset_id) == S.RUNNING
    running = RuntimeState.objects.get(asset=asset)
    assert running.process is not None
    [pid] = processes_with("fake/vllm-sleepy")
    assert "--enable-sleep-mode" in running.process["command"]
    assert is_sleeping(running.base_url) is False  # dev mode: the endpoint exists

    do_sleep_asset(asset, actor=Actor.system())
    assert reconcile(asset.asset_id) == S.SLEEPING
    asleep = RuntimeState.objects.get(asset=asset)
    assert asleep.process is not None
    assert processes_with("fake/vllm-sleepy") == [pid]  # still there, weights offloaded
    assert asleep.process["asleep"] is True
    assert is_sleeping(running.process["base_url"]) is True

    do_wake_asset(asset, actor=Actor.system())
    assert reconcile(asset.asset_id) == S.RUNNING
    awake = RuntimeState.objects.get(asset=asset)
    assert processes_with("fake/vllm-sleepy") == [pid]  # woken, not started again
    assert awake.base_url == running.base_url
    assert is_sleeping(awake.base_url) is False


def test_a_vllm_without_sleep_mode_is_stopped_instead(
    transactional_db: Any, lifecycle_settings: Any, markers: list[str], redis_client: Any
) -> None:
    asset = launched_vllm("vllm-nodev", markers, env={"VLLM_SERVER_DEV_MODE": "0"})
    do_wake_asset(asset, actor=Actor.system())
    assert reconcile(asset.asset_id) == S.RUNNING
    do_sleep_asset(asset, actor=Actor.system())
    assert reconcile(asset.asset_id) == S.SLEEPING
    assert processes_with("fake/vllm-nodev") == []
    assert RuntimeState.objects.get(asset=asset).process is None
