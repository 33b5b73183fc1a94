"""A fair, bounded queue per model in front of its concurrency limit, shared through Redis.

A request over ``policy.max_concurrency`` waits, first come first served, in a queue of at
most ``policy.max_queue`` for up to ``policy.queue_timeout_s``: 429 only when the queue is
full, 503 when the wait runs out, each with a ``Retry-After`` estimated from the service
times the model has shown (never a lease lifetime).

Every change is one Lua script (``lua/``): whoever frees a slot (a release, a waiter that
leaves, an expired lease found by a poll) hands it to the queue's head in the same atomic
step and publishes the grant; the waiter's process wakes its request. A process polls its
waiters' tickets too, so a lost message only delays a grant.

Leases and tickets belong to this process and live ``ttl_s`` (a few seconds) unless its
heartbeat renews them, so a process that dies frees its slots and leaves the queue within
that time, whatever the request's length.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis as AsyncRedis

from models_admin.credentials import AUTH_GENERATION
from runtimes.errors import RuntimeBusy
from runtimes.gateway.batch import Batcher
from runtimes.gateway.errors import QueueTimeout
from runtimes.gateway.resp import RespClient, Script
from runtimes.leases import queue_keys

log = logging.getLogger(__name__)

CHANNEL = "hub:queue:granted"
LUA = Path(__file__).resolve().parent / "lua"
DEFAULT_SERVICE_S = 1.0  # a model with no observed request yet

OnWait = Callable[[int], Awaitable[None]]


def _script(name: str) -> str:
    return (LUA / "prelude.lua").read_text() + "\n" + (LUA / f"{name}.lua").read_text()


@dataclass(frozen=True)
class Limits:
    """A model's queueing policy (``policy.max_concurrency`` / ``max_queue`` / ``queue_timeout_s``)."""

    max_concurrency: int
    max_queue: int
    queue_timeout_s: float


@dataclass
class Slot:
    """One held concurrency slot (a lease owned by this process)."""

    lease_id: str
    asset_id: str
    waited_s: float
    granted_at: float
    generation: int = 0  # the authorization generation when the request entered (authn.py)


class Gone(Exception):
    """The ticket left the queue without a grant (its liveness lapsed)."""


class Queue:
    """The process's side of every model's queue: its waiters, its leases, its heartbeat.

    Scripts and reads go on ``resp`` (the gateway's pipelined connection); ``redis`` (redis-py)
    only carries the grant channel's subscription."""

    def __init__(
        self,
        redis: AsyncRedis,
        resp: RespClient,
        batcher: Batcher,
        *,
        ttl_s: float,
        heartbeat_s: float,
        poll_s: float,
    ) -> None:
        self.redis = redis
        self.resp = resp
        self.batcher = batcher
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.heartbeat_s = heartbeat_s
        self.poll_s = poll_s
        self._enter = Script(_script("enter"))
        self._poll = Script(_script("poll"))
        self._leave = Script(_script("leave"))
        self._release = Script(_script("release"))
        self._heartbeat = Script(_script("heartbeat"))
        self._waiting: dict[str, tuple[str, asyncio.Future[None]]] = {}  # ticket -> (asset, grant)
        self._queued: set[str] = set()  # the tickets of _waiting that the queue holds
        self._positions: dict[str, int] = {}  # a queued ticket's place in line, as last polled
        self._held: dict[str, str] = {}  # lease id -> asset
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if not self._tasks:
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(self._listen()), loop.create_task(self._beat())]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def holding(self) -> int:
        return len(self._held)

    async def admit(
        self, asset_id: str, limits: Limits, *, on_wait: OnWait | None, keepalive_s: float
    ) -> Slot:
        """A slot of ``asset_id``: at once, or after waiting in line (calling ``on_wait(position)``
        every ``keepalive_s`` with its place in line as last polled, 1 = next). Raises
        ``RuntimeBusy`` (queue full) or ``QueueTimeout``."""
        started = time.monotonic()
        ticket = secrets.token_urlsafe(16)
        grant: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[ticket] = (asset_id, grant)  # before the script: its grant may come at once
        try:
            try:
                state, position, svc_ms, generation = await self.resp.evalsha(
                    self._enter,
                    keys=[*queue_keys(asset_id), AUTH_GENERATION],
                    args=[ticket, limits.max_concurrency, limits.max_queue, self.ttl_ms, CHANNEL, asset_id],
                )
            except asyncio.CancelledError:  # the script may have run: take back what it gave
                await asyncio.shield(self._leave_queue(ticket, asset_id))
                raise
            if int(state) == 0:
                raise RuntimeBusy(
                    f"model {asset_id!r} is serving its maximum of {limits.max_concurrency} requests "
                    f"and {int(position)} are waiting",
                    retry_after=_estimate(int(position), limits, int(svc_ms)),
                )
            if int(state) == 2:
                self._queued.add(ticket)
                await self._wait(
                    ticket, asset_id, grant, limits, started, int(position), on_wait, keepalive_s
                )
        finally:
            self._waiting.pop(ticket, None)
            self._queued.discard(ticket)
            self._positions.pop(ticket, None)
            if grant.done() and not grant.cancelled():
                grant.exception()  # read: nobody may be waiting for it any more
        self._held[ticket] = asset_id
        now = time.monotonic()
        return Slot(ticket, asset_id, waited_s=now - started, granted_at=now, generation=int(generation))

    async def _wait(
        self,
        ticket: str,
        asset_id: str,
        grant: asyncio.Future[None],
        limits: Limits,
        started: float,
        position: int,
        on_wait: OnWait | None,
        keepalive_s: float,
    ) -> None:
        deadline = started + limits.queue_timeout_s
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(grant), min(keepalive_s, remaining))
                    return
                if on_wait is not None and time.monotonic() < deadline:
                    await on_wait(self._positions.get(ticket, position))
        except TimeoutError:
            _, position = await asyncio.shield(self._leave_queue(ticket, asset_id))
            svc = int(await self.resp.execute("HGET", queue_keys(asset_id)[3], "svc_ms") or 0)
            raise QueueTimeout(
                f"model {asset_id!r}: no slot within {limits.queue_timeout_s:g}s in its queue",
                retry_after=_estimate(max(position, 1), limits, svc),
            ) from None
        except Gone:
            await asyncio.shield(self._leave_queue(ticket, asset_id))
            raise QueueTimeout(
                f"model {asset_id!r}: this request's place in the queue lapsed", retry_after=1
            ) from None
        except asyncio.CancelledError:
            await asyncio.shield(self._leave_queue(ticket, asset_id))
            raise

    async def _leave_queue(self, ticket: str, asset_id: str) -> tuple[int, int]:
        state, position = await self.resp.evalsha(
            self._leave, keys=queue_keys(asset_id), args=[ticket, CHANNEL, asset_id]
        )
        return int(state), int(position)

    def release(self, slot: Slot, service_s: float | None) -> None:
        """Free the slot (sent with the next batch, right after the response); ``service_s`` is
        how long the runtime took (None: the request was not served)."""
        self._held.pop(slot.lease_id, None)
        service_ms = -1 if service_s is None else int(service_s * 1000)
        self.batcher.release(
            self._release,
            queue_keys(slot.asset_id),
            [slot.lease_id, service_ms, int(slot.waited_s * 1000), CHANNEL, slot.asset_id],
            self._granted_all,
        )

    # Background: grants by message, polls, heartbeat.

    def _granted_all(self, tickets: Any) -> None:
        """Wake this process's waiters among ``tickets`` (granted by a release it sent)."""
        for ticket in tickets or ():
            self._granted(ticket.decode() if isinstance(ticket, bytes) else str(ticket))

    def _granted(self, ticket: str) -> None:
        entry = self._waiting.get(ticket)
        if entry is not None and not entry[1].done():
            entry[1].set_result(None)

    async def _listen(self) -> None:
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        data = message["data"]
                        text = data.decode() if isinstance(data, bytes) else str(data)
                        for ticket in text.split(" ")[1:]:
                            self._granted(ticket)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("gateway queue: lost the grant channel; retrying", exc_info=True)
                await asyncio.sleep(1.0)

    async def _beat(self) -> None:
        last_beat = 0.0
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                if time.monotonic() - last_beat >= self.heartbeat_s:
                    last_beat = time.monotonic()
                    await self._renew()
                await self._check_waiters()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("gateway queue: heartbeat or poll failed", exc_info=True)

    def _by_asset(self, ids: dict[str, str]) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for key, asset_id in ids.items():
            groups.setdefault(asset_id, []).append(key)
        return groups

    async def _renew(self) -> None:
        ids = {**self._held, **{ticket: entry[0] for ticket, entry in self._waiting.items()}}
        for asset_id, group in self._by_asset(ids).items():
            await self.resp.evalsha(self._heartbeat, keys=queue_keys(asset_id), args=[self.ttl_ms, *group])

    async def _check_waiters(self) -> None:
        waiting = {ticket: self._waiting[ticket][0] for ticket in self._queued if ticket in self._waiting}
        for asset_id, tickets in self._by_asset(waiting).items():
            states = await self.resp.evalsha(
                self._poll, keys=queue_keys(asset_id), args=[CHANNEL, asset_id, *tickets]
            )
            for ticket, state, position in zip(tickets, states[::2], states[1::2], strict=True):
                entry = self._waiting.get(ticket)
                if entry is None or entry[1].done():
                    continue
                if int(state) == 2:
                    self._positions[ticket] = int(position)
                elif int(state) == 1:
                    entry[1].set_result(None)
                elif int(state) == 0:
                    entry[1].set_exception(Gone(ticket))


def _estimate(position: int, limits: Limits, svc_ms: int) -> float:
    """Seconds until ``position`` requests ahead have been served, from the observed service time."""
    service_s = svc_ms / 1000 if svc_ms > 0 else DEFAULT_SERVICE_S
    return max(1.0, math.ceil(position / max(limits.max_concurrency, 1)) * service_s)
