"""In-process caches for the gateway's hot path, invalidated through Redis pub/sub.

A request for a running model must not touch PostgreSQL: the resolved :class:`Target`
and the token check are kept in memory for a short TTL. Whenever an asset, its
runtime state or an API token changes, :func:`announce` publishes on
:data:`CHANNEL` (after the transaction commits) and every gateway process drops the
entry; the TTL bounds staleness if a message is lost (Redis reconnect, a writer that
bypasses the ORM).

Who may do what must not lag at all: a change to a token, a user or a role also increments
:data:`AUTH_GENERATION` in Redis (after commit), and every cached token check is used only
while that counter is unchanged (one GET per request; ``runtimes.gateway.auth``). Unlike a
pub/sub message, the counter cannot arrive late: the next request in any process sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from models_admin.models import ApiToken, Asset
from runtimes.models import LifecycleEvent, RuntimeState

CHANNEL = "hub:gateway:invalidate"
ALL = "*"
TOKENS = "tokens"
AUTH_GENERATION = "hub:auth:generation"

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


@lru_cache(maxsize=1)
def publisher() -> Redis:
    """The process's Redis client for announcements (and the authorization generation)."""
    return Redis.from_url(settings.REDIS_URL)


def announce(key: str) -> None:
    """Tell every gateway that ``key`` (an asset id, :data:`TOKENS` or :data:`ALL`) changed.

    Inside a transaction the message goes out on commit, so no gateway re-reads the old row.
    """

    def send() -> None:
        try:
            if key in (TOKENS, ALL):
                publisher().incr(AUTH_GENERATION)
            publisher().publish(CHANNEL, key)
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


def _token_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    announce(TOKENS)


def _user_saved(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    # Active, superuser, staff: who may do what. A login only stamps last_login.
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return
    announce(TOKENS)


def _membership_changed(sender: Any, action: str = "", **kwargs: Any) -> None:
    # A user's roles (groups) or a role's permissions.
    if action in ("post_add", "post_remove", "post_clear"):
        announce(TOKENS)


_connected = False


def connect_signals() -> None:
    """Announce saves/deletes of assets, runtime states (and lifecycle events), API tokens, users
    and their roles.

    Called from ``RuntimesConfig.ready()``, so every process that writes these rows (web,
    Celery workers, management commands) announces its changes. Idempotent.
    """
    global _connected
    if _connected:
        return
    hooks: list[tuple[type[Any], Callable[..., None], bool]] = [
        (Asset, _asset_changed, True),
        (RuntimeState, _state_changed, True),
        # Saves only: deleting an asset cascades over its events, and the asset's own delete
        # already announces it.
        (LifecycleEvent, _event_recorded, False),
        (ApiToken, _token_changed, True),
    ]
    for model, hook, on_delete in hooks:
        name = model.__name__
        post_save.connect(hook, sender=model, dispatch_uid=f"gateway-{name}-save")
        if on_delete:
            post_delete.connect(hook, sender=model, dispatch_uid=f"gateway-{name}-delete")
    # Who may do what: users, their roles, the roles' permissions (see AUTH_GENERATION).
    post_save.connect(_user_saved, sender=User, dispatch_uid="gateway-User-save")
    post_delete.connect(_token_changed, sender=User, dispatch_uid="gateway-User-delete")
    post_delete.connect(_token_changed, sender=Group, dispatch_uid="gateway-Group-delete")
    m2m_changed.connect(_membership_changed, sender=User.groups.through, dispatch_uid="gateway-User-groups")
    m2m_changed.connect(
        _membership_changed, sender=Group.permissions.through, dispatch_uid="gateway-Group-permissions"
    )
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
