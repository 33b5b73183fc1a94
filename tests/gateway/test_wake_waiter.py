"""A wake every caller stopped waiting for leaves no "Task exception was never retrieved" behind.

Callers wait on a shared poll through ``asyncio.shield``; when their wait runs out, the shield
drops its callback, so if the poll then ends in an error, nothing ever read it.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from runtimes.errors import ModelLoading, ModelNotFound
from runtimes.gateway import resolver as resolver_module
from runtimes.gateway.resolver import Resolver


def test_a_wake_that_fails_after_every_caller_gave_up_reports_no_unretrieved_exception(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def inspect(model: str, interface: str | None, *, wake: bool, actor: Any = None) -> Any:
        if wake:
            raise ModelLoading(f"model {model!r} is starting", retry_after=1)
        raise ModelNotFound(f"model {model!r} was removed while it started")

    monkeypatch.setattr(resolver_module, "inspect", inspect)

    async def scenario() -> list[dict[str, Any]]:
        reported: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: reported.append(context))
        resolver = Resolver(ttl_s=5.0, poll_s=0.05)

        async def db(fn: Any) -> Any:
            return fn()

        with pytest.raises(ModelLoading):
            await resolver.resolve("waking", None, db=db, actor=lambda: None, wait_s=0.01)
        for _ in range(200):  # the shared poll goes on, and fails, after the caller left
            if not resolver.waiting():
                break
            await asyncio.sleep(0.01)
        assert not resolver.waiting()
        gc.collect()  # an unread task exception is reported when the task is collected
        await asyncio.sleep(0)
        return reported

    reported = asyncio.run(scenario())
    assert [context["message"] for context in reported] == []


def test_a_waiting_request_gets_the_model_as_soon_as_its_change_is_announced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shared poll looks again when the model's change is announced (``forget``), not only
    every ``poll_s``: here ``poll_s`` is longer than the caller waits, so only the announcement
    can answer it."""
    running = False

    def inspect(model: str, interface: str | None, *, wake: bool, actor: Any = None) -> Any:
        if not running:
            raise ModelLoading(f"model {model!r} is starting", retry_after=1)
        return "the target"

    monkeypatch.setattr(resolver_module, "inspect", inspect)

    async def scenario() -> Any:
        nonlocal running
        resolver = Resolver(ttl_s=5.0, poll_s=600.0)

        async def db(fn: Any) -> Any:
            return fn()

        waiting = asyncio.ensure_future(
            resolver.resolve("waking", None, db=db, actor=lambda: None, wait_s=30)
        )
        while not resolver.waiting():
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the poll sleeps now
        running = True
        resolver.forget("waking")  # what the gateway's listener does when the change is announced
        return await asyncio.wait_for(waiting, 30)

    target, just_started = asyncio.run(scenario())
    assert target == "the target"
    assert just_started
