"""Cached targets are dropped when a runtime's state changes in another process (a Celery worker).

The gateway and the API's resolve endpoint keep a model's resolved target in memory; the
process that changes the state announces it over Redis (``runtimes.gateway.cache``), from
``RuntimesConfig.ready()``, so workers announce too. The caches' TTL is raised here, so
only an announcement can empty them within the test.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import child_env
from tests.gateway.conftest import llm_document, post

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CHAT = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}

# What a worker process does: start Django (nothing else) and save the asset's runtime state.
WORKER = """
import sys, django
django.setup()
from runtimes.models import RuntimeState
state = RuntimeState.objects.get(asset__asset_id=sys.argv[1])
state.state = "sleeping"
state.save()
"""


def cached(asset_id: str) -> bool:
    """Whether the resolver (the gateway's and the resolve endpoint's one cache) holds ``asset_id``."""
    from runtimes.gateway.resolver import resolver

    return resolver.targets.get(asset_id) is not None


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def warm(hub: Any, llama: Any, make_live: Any, make_token: Any, monkeypatch: Any) -> Callable[[str], Any]:
    """``warm(asset_id)``: a live, running asset whose target both caches hold (for 10 minutes)."""
    from runtimes.gateway.resolver import resolver

    monkeypatch.setattr(resolver.targets, "ttl_s", 600.0)
    token = make_token(scopes=("inference", "gateway"))

    def make(asset_id: str) -> Any:
        asset = make_live(llm_document(asset_id, llama.url))
        assert post(hub, "/v1/chat/completions", token, {"model": asset_id, **CHAT}).status_code == 200
        body = {"interface": "llm-runtime", "model": asset_id, "wait_s": 0}
        assert post(hub, "/api/v1/gateway/resolve", token, body).status_code == 200
        assert cached(asset_id)
        return asset

    return make


def worker_env() -> dict[str, str]:
    return child_env()


def test_it_forgets_a_target_whose_state_a_worker_process_saved(warm: Callable[[str], Any]) -> None:
    warm("inv-worker")
    subprocess.run(
        [sys.executable, "-c", WORKER, "inv-worker"], cwd=ROOT, env=worker_env(), check=True, timeout=60
    )
    assert wait_for(lambda: not cached("inv-worker"))


def test_it_forgets_a_target_the_lifecycle_moved_with_an_update(warm: Callable[[str], Any]) -> None:
    """The lifecycle's transitions are one conditional UPDATE (no post_save) plus an event row."""
    from django.db import transaction
    from django.utils import timezone

    from runtimes.models import LifecycleEvent, RuntimeState

    asset = warm("inv-update")
    with transaction.atomic():
        RuntimeState.objects.filter(asset=asset).update(state="sleeping")
        LifecycleEvent.objects.create(
            asset_id=asset.pk, at=timezone.now(), from_state="running", to_state="sleeping"
        )
    assert wait_for(lambda: not cached("inv-update"))
