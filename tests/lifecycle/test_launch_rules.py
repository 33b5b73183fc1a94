"""The lifecycle launches through the allow-list and the minimal environment, whatever was stored."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from runtimes.lifecycle import reconcile
from runtimes.models import ObservedState, RuntimeState
from tests.lifecycle.conftest import FAKE_LLAMA

pytestmark = pytest.mark.slow


def test_a_stored_command_no_longer_allowed_is_refused_when_the_worker_starts_it(
    transactional_db: Any, make_asset: Any, lifecycle_settings: Any, settings: Any, redis_client: Any
) -> None:
    asset = make_asset("delisted", desired="running")  # valid when it was approved
    settings.HUB_LAUNCH_ALLOWED_EXECUTABLES = ["llama-server"]  # the operator narrowed the list since

    assert reconcile(asset.asset_id) != ObservedState.RUNNING
    rs = RuntimeState.objects.get(asset=asset)
    assert rs.consecutive_failures >= 1
    assert "is not an allowed executable" in rs.last_error


def test_the_launched_runtime_does_not_see_the_hubs_settings(
    transactional_db: Any,
    make_asset: Any,
    lifecycle_settings: Any,
    redis_client: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SECRET_KEY", "hub-secret")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:pw@db/hub")
    monkeypatch.setenv("HUB_RUNTIME_SECRET_OPENAI_API_KEY", "sk-upstream")
    dump = tmp_path / "env.json"
    # The fake llama-server, preceded by a one-line environment dump of its own process.
    script = (
        "import json, os, runpy, sys; json.dump(dict(os.environ), open(sys.argv.pop(1), 'w')); "
        "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    model_file = tmp_path / "envcheck.gguf"  # make_asset writes it
    asset = make_asset(
        "envcheck",
        desired="running",
        command=[sys.executable, "-c", script, str(dump), str(FAKE_LLAMA), "-m", str(model_file)],
    )

    assert reconcile(asset.asset_id) == ObservedState.RUNNING
    seen = json.loads(dump.read_text())
    assert not {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "HUB_RUNTIME_SECRET_OPENAI_API_KEY"} & set(seen)
    assert seen["PYTHONPATH"]  # its own launch.env
    assert seen["PATH"] == os.environ["PATH"]
