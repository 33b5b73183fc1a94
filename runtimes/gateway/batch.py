"""Redis writes the gateway owes after a response: lease releases and usage events.

They are off the response path and need no answer, so instead of one round trip (and
one asyncio task) each, they are queued and sent by one long-lived task in a single
pipeline per event-loop turn: a lone request costs one round trip for both its release
and its usage event; under load, many requests share one.

A release must not wait long (it frees a concurrency slot), so nothing here delays on
purpose: the flusher sends whatever is queued as soon as it runs. A pipeline that fails
is logged; the leases in it expire by themselves (their TTL) and the usage events are
lost, as they would be with one call each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import NoScriptError

from runtimes.leases import LEASE_ID_PREFIX, AsyncLeases
from runtimes.usage import UsageEvent, publish

log = logging.getLogger(__name__)


class Batcher:
    def __init__(self, redis: AsyncRedis, leases: AsyncLeases) -> None:
        self.redis = redis
        self.leases = leases
        self._releases: list[str] = []
        self._events: list[UsageEvent] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._release_sha: str | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Send what is queued, then end the flusher."""
        if self._task is None:
            return
        task, self._task = self._task, None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        with contextlib.suppress(Exception):
            await self._flush()

    def release(self, lease_id: str) -> None:
        self._releases.append(lease_id)
        self._wake.set()

    def usage(self, event: UsageEvent) -> None:
        self._events.append(event)
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("gateway: lease releases / usage events not sent", exc_info=True)

    async def _flush(self) -> None:
        while self._releases or self._events:
            releases, self._releases = self._releases, []
            events, self._events = self._events, []
            sha = self._release_sha
            if sha is None:
                sha = self._release_sha = str(self.leases._release.sha)  # the script's SHA1, computed locally
            async with self.redis.pipeline(transaction=False) as pipe:
                for lease_id in releases:
                    # EVALSHA straight on the pipeline: registering the script there would cost a
                    # SCRIPT EXISTS round trip on every execute.
                    pipe.evalsha(sha, 1, LEASE_ID_PREFIX + lease_id, lease_id)
                publish(pipe, events)
                results: list[Any] = await pipe.execute(raise_on_error=False)
            missing = [
                lease_id
                for lease_id, result in zip(releases, results, strict=False)
                if isinstance(result, NoScriptError)
            ]
            for lease_id in missing:  # Redis lost its script cache (restart): the client reloads it
                await self.leases.release(lease_id)
            for result in results:
                if isinstance(result, Exception) and not isinstance(result, NoScriptError):
                    log.warning("gateway: a lease release or usage event failed: %s", result)
