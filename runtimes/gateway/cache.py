"""In-process caches for the gateway's hot path, invalidated through Redis pub/sub.

A request for a running model must not touch PostgreSQL: the resolved :class:`Target` is
kept in memory for a short TTL. Whenever an asset or its runtime state changes,
:func:`announce` publishes on :data:`CHANNEL` (after the transaction commits) and every
gateway process drops the entry; the TTL bounds staleness if a message is lost (Redis
reconnect, a writer that bypasses the ORM).

Token checks are not announced: who may do what must not lag at all, so their cache
(``models_admin.credentials``) is keyed by a generation counter the next request reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.db import transaction
from django.db.models import Model
from django.db.models.signals import post_delete, post_save
from redis.asyncio import Redis as AsyncRedis

from core.redis import client as redis_client
from models_admin.models import Asset
from runtimes.models import LifecycleEvent, RuntimeState

CHANNEL = "hub:gateway:invalidate"
ALL = "*"

log = logging.getLogger(__name__)

V = TypeVar("V")


class TTLCache(Generic[V]):
    """A dict whose entries expire ``ttl_s`` after they were stored."""

    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._data: dict[str, tuple[float, V]] = {}

    def get(self, key: str) -> V | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            self._data.pop(key, None)
            return None
        return entry[1]

    def put(self, key: str, value: V) -> None:
        if len(self._data) >= self.max_entries:
            self._data.clear()  # crude, but bounded; a full cache only costs lookups
        self._data[key] = (time.monotonic() + self.ttl_s, value)

    def pop(self, key: str) -> None:
        self._data.pop(key, None)

    def clear(self) -> None:
        self._data.clear()


def announce(key: str) -> None:
    """Tell every gateway that ``key`` (an asset id, or :data:`ALL`) changed.

    Inside a transaction the message goes out on commit, so no gateway re-reads the old row.
    """

    def send() -> None:
        try:
            redis_client().publish(CHANNEL, key)
        except Exception:  # the TTL still bounds staleness; a write must not fail for this
            log.warning("gateway cache invalidation for %r not published", key, exc_info=True)

    transaction.on_commit(send)


def _asset_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    announce(str(instance.asset_id))


def _state_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    asset = instance._state.fields_cache.get("asset")  # already loaded by the writer, usually
    if asset is None:
        asset = Asset.objects.filter(pk=instance.asset_id).only("asset_id").first()
    announce(str(asset.asset_id) if asset is not None else ALL)


def _event_recorded(sender: Any, instance: Any, created: bool = True, **kwargs: Any) -> None:
    # The lifecycle moves a state with one conditional UPDATE (no post_save for RuntimeState)
    # and records a LifecycleEvent in the same transaction: that row is the change's signal.
    _state_changed(sender, instance)


_connected = False


def connect_signals() -> None:
    """Announce saves/deletes of assets and runtime states (and lifecycle events).

    Called from ``RuntimesConfig.ready()``, so every process that writes these rows (web,
    Celery workers, management commands) announces its changes. Idempotent.
    """
    global _connected
    if _connected:
        return
    hooks: list[tuple[type[Model], Callable[..., None], bool]] = [
        (Asset, _asset_changed, True),
        (RuntimeState, _state_changed, True),
        # Saves only: deleting an asset cascades over its events, and the asset's own delete
        # already announces it.
        (LifecycleEvent, _event_recorded, False),
    ]
    for model, hook, on_delete in hooks:
        name = model.__name__
        post_save.connect(hook, sender=model, dispatch_uid=f"gateway-{name}-save")
        if on_delete:
            post_delete.connect(hook, sender=model, dispatch_uid=f"gateway-{name}-delete")
    _connected = True


class Invalidator:
    """Listens on :data:`CHANNEL` and calls ``on_message(key)`` for each announcement."""

    def __init__(self, client: AsyncRedis, on_message: Callable[[str], None]) -> None:
        self.client = client
        self.on_message = on_message
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                async with self.client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    # Whatever changed while we were not listening is unknown: start afresh.
                    self.on_message(ALL)
                    self.ready.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            data = message["data"]
                            self.on_message(data.decode() if isinstance(data, bytes) else str(data))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("gateway invalidation listener lost Redis; retrying", exc_info=True)
                await asyncio.sleep(1.0)
