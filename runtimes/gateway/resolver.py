"""The one resolver: a cache of running targets and one wait per waking model.

Both the gateway (``/v1/...``) and the API's ``POST /api/v1/gateway/resolve`` ask
:data:`resolver`, so they share one cache (dropped by the invalidation listener, see
``cache.py``), one poll per waking model, and one answer to "where does it run".

Database work goes through the ``db`` runner each caller passes: the gateway's own thread
pool, or Django's ``sync_to_async`` for an API view (whose test client shares a transaction
with the test).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from django.conf import settings

from models_admin.audit import Actor
from runtimes.errors import ModelLoading
from runtimes.gateway.cache import ALL, TTLCache
from runtimes.gateway.queue import Limits
from runtimes.gateway.resolve import Target, inspect, live_limits

T = TypeVar("T")
Db = Callable[[Callable[[], Any]], Awaitable[Any]]
DEFAULT_RETRY_AFTER_S = 5.0
MIN_POLL_WINDOW_S = 60.0  # a shared poll outlives its first caller's wait by this much at least


class Resolver:
    def __init__(self, ttl_s: float, poll_s: float = 0.25) -> None:
        self.targets: TTLCache[Target] = TTLCache(ttl_s)
        self.policies: TTLCache[tuple[Limits | None]] = TTLCache(ttl_s)
        self.poll_s = poll_s
        # One poll per (event loop, model): a future belongs to the loop that made it.
        self._waits: dict[tuple[asyncio.AbstractEventLoop, str], asyncio.Future[Target]] = {}
        # A change announced for a model being polled (it runs now, say) starts its next look at once.
        self._nudges: dict[tuple[asyncio.AbstractEventLoop, str], asyncio.Event] = {}
        self._retry_after: dict[str, float] = {}

    def forget(self, key: str) -> None:
        """Drop what is cached for an asset id (or everything for ``*``); a poll waiting for that
        model looks again at once."""
        if key == ALL:
            self.targets.clear()
            self.policies.clear()
        else:
            self.targets.pop(key)
            self.policies.pop(key)
        for (loop, model), nudge in list(self._nudges.items()):
            if key in (ALL, model) and not loop.is_closed():
                loop.call_soon_threadsafe(nudge.set)

    def waiting(self) -> int:
        """How many shared polls are in flight (for tests and diagnostics)."""
        return len(self._waits)

    async def resolve(
        self, model: str, interface: str | None, *, db: Db, actor: Callable[[], Actor | None], wait_s: float
    ) -> tuple[Target, bool]:
        """The running target of ``model`` and whether it had to be waited for (``just_started``).

        A sleeping on-demand model is woken (a wake in flight is joined). Waits up to
        ``wait_s`` for it (callers on one model share one poll), then raises
        ``ModelLoading`` with a ``Retry-After`` estimate.
        """
        target = self.targets.get(model)
        just_started = False
        if target is None:
            key = (asyncio.get_running_loop(), model)
            waiter = self._waits.get(key)
            if waiter is None:
                try:
                    target = await db(lambda: inspect(model, None, wake=True, actor=actor()))
                    self.targets.put(model, target)
                except ModelLoading as exc:
                    self._retry_after[model] = exc.retry_after or DEFAULT_RETRY_AFTER_S
                    if wait_s <= 0:
                        raise
                    waiter = self._waits.get(key)
                    if waiter is None:
                        waiter = asyncio.ensure_future(self._poll(model, db, max(wait_s, MIN_POLL_WINDOW_S)))
                        self._waits[key] = waiter
                        waiter.add_done_callback(lambda done: self._end_wait(key, done))
            if waiter is not None:
                try:
                    target = await asyncio.wait_for(asyncio.shield(waiter), max(wait_s, 0.0))
                except TimeoutError:
                    raise ModelLoading(
                        f"model {model!r} is starting; retry later",
                        retry_after=self._retry_after.get(model, DEFAULT_RETRY_AFTER_S),
                    ) from None
                just_started = True
        assert target is not None
        if interface is not None:
            target.check_interface(interface)
        return target, just_started

    def _end_wait(self, key: tuple[asyncio.AbstractEventLoop, str], waiter: asyncio.Future[Target]) -> None:
        self._waits.pop(key, None)
        if not waiter.cancelled():
            waiter.exception()  # read here: every caller may have stopped waiting before it ended

    async def _poll(self, model: str, db: Db, window_s: float) -> Target:
        """Poll until the (already woken) model runs, every ``poll_s`` and whenever a change to
        it is announced; errors other than loading end it."""
        deadline = time.monotonic() + window_s
        key = (asyncio.get_running_loop(), model)
        nudge = self._nudges[key] = asyncio.Event()
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(nudge.wait(), self.poll_s)
                nudge.clear()
                try:
                    target: Target = await db(lambda: inspect(model, None, wake=False))
                except ModelLoading as exc:
                    self._retry_after[model] = exc.retry_after or DEFAULT_RETRY_AFTER_S
                    if time.monotonic() >= deadline:
                        raise
                    continue
                self.targets.put(model, target)
                return target
        finally:
            if self._nudges.get(key) is nudge:
                del self._nudges[key]

    def limits(self, asset_id: str) -> Limits | None:
        """The queueing policy of a live asset (cached); 404 / 409 errors like resolve.

        Runs a database query on a miss: call it from a thread.
        """
        cached = self.policies.get(asset_id)
        if cached is None:
            cached = (live_limits(asset_id),)
            self.policies.put(asset_id, cached)
        return cached[0]


resolver = Resolver(settings.HUB_GATEWAY_CACHE_TTL_S)
