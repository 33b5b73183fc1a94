"""Usage of each served request: one event per request, sent with the lease release."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from runtimes.gateway.asgi import Call
from runtimes.gateway.batch import Batcher
from runtimes.lifecycle import mark_request_finished
from runtimes.usage import UsageEvent


def usage_event(call: Call) -> UsageEvent:
    generation_ms = None
    if call.first_token is not None and call.last_token is not None:
        generation_ms = (call.last_token - call.first_token) * 1000
    return UsageEvent(
        asset_id=call.asset_id,
        interface=call.interface,
        started_at=call.started_at,
        duration_ms=(time.perf_counter() - call.started) * 1000,
        status=call.status,
        prompt_tokens=call.prompt_tokens,
        completion_tokens=call.completion_tokens,
        input_count=call.input_count,
        generation_ms=generation_ms,
    )


class Recorder:
    """Queues each request's usage event; tells the lifecycle an asset is in use (at most
    every ``mark_every_s`` per asset, off the request path)."""

    def __init__(
        self,
        batcher: Batcher,
        background: Callable[[Awaitable[Any]], None],
        db: Callable[[Callable[[], Any]], Awaitable[Any]],
        mark_every_s: float,
    ) -> None:
        self.batcher = batcher
        self.background = background
        self.db = db
        self.mark_every_s = mark_every_s
        self._last_mark: dict[str, float] = {}

    def record(self, call: Call) -> None:
        self.batcher.usage(usage_event(call))
        now = time.monotonic()
        asset_id = call.asset_id
        if now - self._last_mark.get(asset_id, 0.0) >= self.mark_every_s:
            self._last_mark[asset_id] = now
            self.background(self.db(lambda: mark_request_finished(asset_id)))
