"""Redis writes the gateway owes after a response: slot releases and usage events.

They are off the response path and need no answer, so instead of one round trip (and
one asyncio task) each, they are queued and sent by one long-lived task in a single
write per event-loop turn (on the gateway's pipelined connection, ``resp.py``): a lone
request costs one round trip for both its release and its usage event; under load, many
requests share one.

A release must not wait long (it frees a concurrency slot), so nothing here delays on
purpose: the flusher sends whatever is queued as soon as it runs. A pipeline that fails
is logged; its leases expire by themselves (no heartbeat renews them) and the usage events
are lost, as they would be with one call each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from redis.exceptions import NoScriptError

from runtimes.gateway.resp import Command, RespClient, Script
from runtimes.usage import UsageEvent

log = logging.getLogger(__name__)

ScriptCall = tuple[Script, list[str], list[Any], Callable[[Any], None] | None]


class Batcher:
    def __init__(self, resp: RespClient) -> None:
        self.resp = resp
        self._releases: list[ScriptCall] = []
        self._events: list[UsageEvent] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

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

    def release(
        self, script: Script, keys: list[str], args: list[Any], then: Callable[[Any], None] | None = None
    ) -> None:
        """Run ``script`` (a slot release) with the next batch; ``then(result)`` after it."""
        self._releases.append((script, keys, args, then))
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
                log.warning("gateway: slot releases / usage events not sent", exc_info=True)

    async def _flush(self) -> None:
        while self._releases or self._events:
            releases, self._releases = self._releases, []
            events, self._events = self._events, []
            commands: list[Command] = [script.command(keys, args) for script, keys, args, _ in releases]
            commands += [event.xadd_command() for event in events]
            results = await self.resp.execute_many(commands)
            for (script, keys, args, then), result in zip(releases, results, strict=False):
                if isinstance(result, NoScriptError):  # Redis lost its script cache (restart)
                    result = await self.resp.evalsha(script, keys, args)  # loads it again
                if then is not None and not isinstance(result, Exception):
                    then(result)
            for result in results:
                if isinstance(result, Exception) and not isinstance(result, NoScriptError):
                    log.warning("gateway: a slot release or usage event failed: %s", result)
