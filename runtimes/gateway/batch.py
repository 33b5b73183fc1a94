"""Redis writes the gateway owes after a response: slot releases and usage events.

They are off the response path and need no answer, so instead of one round trip each they
are queued and sent in a single write per event-loop turn (on the gateway's pipelined
connection, ``resp.py``): the first one queued in a turn schedules the send with
``call_soon``, and the replies are read by a callback, so a batch costs no task. A lone
request costs one round trip for both its release and its usage event; under load, many
requests share one.

A release must not wait long (it frees a concurrency slot), so nothing here delays on
purpose: a batch goes out at the end of the turn that queued it. A pipeline that fails is
logged; its leases expire by themselves (no heartbeat renews them) and the usage events
are lost, as they would be with one call each.
"""

from __future__ import annotations

import asyncio
import functools
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
        self._scheduled = False
        self._in_flight: set[asyncio.Future[Any]] = set()  # batches sent, replies not yet read

    async def stop(self) -> None:
        """Send what is queued and wait for every batch's replies."""
        self._send()
        while self._in_flight:
            await asyncio.wait(list(self._in_flight))

    def release(
        self, script: Script, keys: list[str], args: list[Any], then: Callable[[Any], None] | None = None
    ) -> None:
        """Run ``script`` (a slot release) with the next batch; ``then(result)`` after it."""
        self._releases.append((script, keys, args, then))
        self._schedule()

    def usage(self, event: UsageEvent) -> None:
        self._events.append(event)
        self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._send)

    def _send(self) -> None:
        self._scheduled = False
        if not (self._releases or self._events):
            return
        releases, self._releases = self._releases, []
        events, self._events = self._events, []
        commands: list[Command] = [script.command(keys, args) for script, keys, args, _ in releases]
        commands += [event.xadd_command() for event in events]
        future = self.resp.send_many(commands)
        self._in_flight.add(future)
        future.add_done_callback(functools.partial(self._replied, releases=releases))

    def _replied(self, future: asyncio.Future[list[Any]], releases: list[ScriptCall]) -> None:
        self._in_flight.discard(future)
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            log.warning("gateway: slot releases / usage events not sent: %s", error)
            return
        results = future.result()
        for (script, keys, args, then), result in zip(releases, results, strict=False):
            if isinstance(result, NoScriptError):  # Redis lost its script cache (restart)
                retry = asyncio.ensure_future(self.resp.evalsha(script, keys, args))  # loads it again
                self._in_flight.add(retry)
                retry.add_done_callback(functools.partial(self._retried, then=then))
            elif then is not None and not isinstance(result, Exception):
                then(result)
        for result in results:
            if isinstance(result, Exception) and not isinstance(result, NoScriptError):
                log.warning("gateway: a slot release or usage event failed: %s", result)

    def _retried(self, future: asyncio.Future[Any], then: Callable[[Any], None] | None) -> None:
        self._in_flight.discard(future)
        if future.cancelled():
            return
        if future.exception() is not None:
            log.warning("gateway: a slot release failed: %s", future.exception())
        elif then is not None:
            then(future.result())
