"""Concurrency leases in Redis: ``policy.max_concurrency`` enforced across every gateway process.

One sorted set per asset (``hub:lease:<asset_id>``) maps lease id -> expiry (unix ms), and
one string per lease (``hub:lease-id:<lease_id>``, ``<zset key>|<owner>``) remembers which
asset it belongs to and who took it, so renew and release need only the lease id. Given an
``owner``, renew and release act only on that owner's lease (:class:`NotLeaseOwner`
otherwise); without one (the gateway's own leases, an admin) they act on any. Acquire and release are one Lua script call
each (Redis 6.2 compatible: ZREMRANGEBYSCORE / ZCARD / ZADD / ZREM only), which makes
them atomic against every other caller:

- an expired lease frees its slot by itself: every acquire purges expired members first,
  and :func:`active_counts` counts only unexpired ones;
- a stale lease id cannot free anyone else's slot: ids are random (128 bits) and release
  removes only that member;
- the script reads the clock from Redis (``TIME``), so callers' clocks do not matter;
- a TTL is at most :func:`max_ttl_s` (``HUB_LEASE_MAX_TTL_S``): a caller that dies holds its
  slot that long at worst, and a live one renews.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from django.conf import settings
from redis import Redis
from redis.client import Pipeline

from core.redis import client as redis_client

LEASE_PREFIX = "hub:lease:"
LEASE_ID_PREFIX = "hub:lease-id:"
# The gateway's queue per asset (runtimes/gateway/queue.py): waiting tickets in arrival order,
# their liveness, and the asset's observed times.
QUEUE_PREFIX = "hub:queue:"
QUEUE_ALIVE_PREFIX = "hub:queue-alive:"
QUEUE_STATS_PREFIX = "hub:queue-stats:"
QUEUE_SEQ_PREFIX = "hub:queue-seq:"

# KEYS[1] lease zset, KEYS[2] lease-id key, KEYS[3] the gateway's queue; ARGV: lease_id, max,
# ttl_ms, owner. Returns {1, expires_ms} when acquired, {0, ms until the soonest lease expires}
# when full. A slot is never taken past requests waiting in the gateway's queue.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) or redis.call('ZCARD', KEYS[3]) > 0 then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local wait = 1000
  if first[2] then wait = tonumber(first[2]) - now end
  return {0, wait}
end
local expires = now + ttl
redis.call('ZADD', KEYS[1], expires, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl + 60000)
redis.call('SET', KEYS[2], KEYS[1] .. '|' .. (ARGV[4] or ''), 'PX', ttl)
return {1, expires}
"""

# KEYS[1] lease-id key; ARGV: lease_id[, owner]. Returns 1 if a live lease was removed, -1 if
# it belongs to someone other than ``owner`` (when given).
_RELEASE = """
local held = redis.call('GET', KEYS[1])
if not held then return 0 end
local zset, owner = string.match(held, '^([^|]*)|?(.*)$')
if ARGV[2] and ARGV[2] ~= owner then return -1 end
redis.call('DEL', KEYS[1])
return redis.call('ZREM', zset, ARGV[1])
"""

# KEYS[1] lease-id key; ARGV: lease_id, ttl_ms[, owner]. Returns the new expiry, 0 if the
# lease is gone, -1 if it belongs to someone other than ``owner`` (when given).
_RENEW = """
local held = redis.call('GET', KEYS[1])
if not held then return 0 end
local zset, owner = string.match(held, '^([^|]*)|?(.*)$')
if ARGV[3] and ARGV[3] ~= owner then return -1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local score = redis.call('ZSCORE', zset, ARGV[1])
if (not score) or tonumber(score) <= now then
  redis.call('ZREM', zset, ARGV[1])
  redis.call('DEL', KEYS[1])
  return 0
end
local ttl = tonumber(ARGV[2])
local expires = now + ttl
redis.call('ZADD', zset, 'XX', expires, ARGV[1])
redis.call('PEXPIRE', zset, ttl + 60000)
redis.call('SET', KEYS[1], held, 'PX', ttl)
return expires
"""


@dataclass(frozen=True)
class Lease:
    lease_id: str
    asset_id: str
    expires_at: float  # unix seconds


class NotLeaseOwner(Exception):
    """The lease exists but was taken by another owner: it was neither renewed nor released."""

    def __init__(self, lease_id: str) -> None:
        super().__init__(f"lease {lease_id!r} belongs to another caller")
        self.lease_id = lease_id


@dataclass(frozen=True)
class LeaseRefused:
    """Every slot is held; the soonest one expires in ``retry_after`` seconds (at the latest)."""

    retry_after: float


def _key(asset_id: str) -> str:
    return LEASE_PREFIX + asset_id


def _id_key(lease_id: str) -> str:
    return LEASE_ID_PREFIX + lease_id


def queue_keys(asset_id: str) -> list[str]:
    """The keys of ``asset_id``'s queue scripts: leases, queue, liveness, stats, arrival counter."""
    return [
        _key(asset_id),
        QUEUE_PREFIX + asset_id,
        QUEUE_ALIVE_PREFIX + asset_id,
        QUEUE_STATS_PREFIX + asset_id,
        QUEUE_SEQ_PREFIX + asset_id,
    ]


@dataclass(frozen=True)
class QueueSnapshot:
    """An asset's queue now: requests waiting, and the averages of recent waits and services."""

    depth: int
    wait_ms: int | None
    service_ms: int | None


# One command queued on a pipeline for one asset: ``(pipe, asset_id, live)``, see Leases._per_asset.
Command = Callable[[Pipeline, str, str], object]


def _owner_args(owner: str | None) -> list[str]:
    if owner is not None and "|" in owner:
        raise ValueError(f"a lease owner cannot contain '|': {owner!r}")
    return [] if owner is None else [owner]


def _released(lease_id: str, result: Any) -> bool:
    if int(result) == -1:
        raise NotLeaseOwner(lease_id)
    return int(result) == 1


def _renewed(lease_id: str, result: Any) -> float | None:
    expires = int(result)
    if expires == -1:
        raise NotLeaseOwner(lease_id)
    return expires / 1000 if expires else None


def max_ttl_s() -> float:
    """The longest a lease may be taken or renewed for (``HUB_LEASE_MAX_TTL_S``)."""
    return float(settings.HUB_LEASE_MAX_TTL_S)


def _default_client() -> Redis:
    return redis_client()


class Leases:
    """The lease scripts bound to one Redis client (scripts are loaded once, then EVALSHA)."""

    def __init__(self, client: Redis) -> None:
        self.client = client
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)

    def try_acquire(
        self, asset_id: str, max_concurrency: int, ttl_s: float, owner: str = ""
    ) -> Lease | LeaseRefused:
        """Take one of ``max_concurrency`` slots for ``ttl_s`` seconds for ``owner``, or say how long to wait."""
        ttl_ms = _ttl_ms(ttl_s)
        lease_id = secrets.token_urlsafe(16)
        result = cast(
            list[Any],
            self._acquire(
                keys=[_key(asset_id), _id_key(lease_id), QUEUE_PREFIX + asset_id],
                args=[lease_id, max_concurrency, ttl_ms, *_owner_args(owner)],
            ),
        )
        if int(result[0]) == 1:
            return Lease(lease_id=lease_id, asset_id=asset_id, expires_at=int(result[1]) / 1000)
        return LeaseRefused(retry_after=max(0.001, int(result[1]) / 1000))

    def acquire(self, asset_id: str, max_concurrency: int, ttl_s: float) -> Lease | None:
        got = self.try_acquire(asset_id, max_concurrency, ttl_s)
        return got if isinstance(got, Lease) else None

    def release(self, lease_id: str, owner: str | None = None) -> bool:
        """Free the lease's slot; False if it had already expired or been released. Idempotent.

        Raises :class:`NotLeaseOwner` if ``owner`` is given and did not take the lease.
        """
        return _released(
            lease_id, self._release(keys=[_id_key(lease_id)], args=[lease_id, *_owner_args(owner)])
        )

    def renew(self, lease_id: str, ttl_s: float, owner: str | None = None) -> float | None:
        """Extend a live lease to ``now + ttl_s``; the new expiry (unix s), or None if it is gone.

        Raises :class:`NotLeaseOwner` if ``owner`` is given and did not take the lease.
        """
        args: list[str | int] = [lease_id, _ttl_ms(ttl_s), *_owner_args(owner)]
        return _renewed(lease_id, self._renew(keys=[_id_key(lease_id)], args=args))

    def _server_ms(self) -> int:
        """Redis's clock in milliseconds: the one every expiry in the lease store is measured by."""
        now_s, now_us = self.client.time()
        return int(now_s) * 1000 + int(now_us) // 1000

    def _per_asset(self, asset_ids: Iterable[str], *commands: Command) -> dict[str, list[Any]]:
        """Each asset's answers to ``commands``, all sent in one round trip.

        Each command is queued as ``command(pipe, asset_id, live)``, where ``live`` is Redis's
        now as an exclusive lower bound: a sorted set's members scored above it are unexpired.
        """
        ids = list(asset_ids)
        if not ids:
            return {}
        live = f"({self._server_ms()}"
        pipe = self.client.pipeline(transaction=False)
        for asset_id in ids:
            for command in commands:
                command(pipe, asset_id, live)
        answers, n = pipe.execute(), len(commands)
        return {asset_id: answers[i * n : (i + 1) * n] for i, asset_id in enumerate(ids)}

    def active_counts(self, asset_ids: Iterable[str]) -> dict[str, int]:
        """Live (unexpired) leases per asset; assets with none map to 0."""
        answers = self._per_asset(
            asset_ids, lambda pipe, asset_id, live: pipe.zcount(_key(asset_id), live, "+inf")
        )
        return {asset_id: int(count) for asset_id, (count,) in answers.items()}

    def queue_snapshots(self, asset_ids: Iterable[str]) -> dict[str, QueueSnapshot]:
        """Each asset's queue: waiting requests (live tickets) and the averaged wait / service."""
        answers = self._per_asset(
            asset_ids,
            lambda pipe, asset_id, live: pipe.zcount(QUEUE_ALIVE_PREFIX + asset_id, live, "+inf"),
            lambda pipe, asset_id, _: pipe.hmget(QUEUE_STATS_PREFIX + asset_id, "wait_ms", "svc_ms"),
        )
        return {
            asset_id: QueueSnapshot(
                depth=int(depth),
                wait_ms=None if wait is None else int(wait),
                service_ms=None if service is None else int(service),
            )
            for asset_id, (depth, (wait, service)) in answers.items()
        }


def _ttl_ms(ttl_s: float) -> int:
    cap = max_ttl_s()
    if not 0 < ttl_s <= cap:
        raise ValueError(f"ttl_s must be in (0, {cap:g}]")
    return max(1, int(ttl_s * 1000))


@lru_cache(maxsize=1)
def _default() -> Leases:
    return Leases(_default_client())


def acquire(asset_id: str, max_concurrency: int, ttl_s: float) -> Lease | None:
    """A lease on one of ``max_concurrency`` slots of ``asset_id``, or None when all are held."""
    return _default().acquire(asset_id, max_concurrency, ttl_s)


def try_acquire(asset_id: str, max_concurrency: int, ttl_s: float, owner: str = "") -> Lease | LeaseRefused:
    return _default().try_acquire(asset_id, max_concurrency, ttl_s, owner)


def release(lease_id: str, owner: str | None = None) -> bool:
    return _default().release(lease_id, owner)


def renew(lease_id: str, ttl_s: float, owner: str | None = None) -> float | None:
    """Extend a live lease; the new expiry (unix s), or None if it expired or was released."""
    return _default().renew(lease_id, ttl_s, owner)


def renew_lease(lease_id: str, ttl_s: float, owner: str | None = None) -> Lease | None:
    """:func:`renew`, answering the whole lease (with its asset id)."""
    expires = renew(lease_id, ttl_s, owner)
    if expires is None:
        return None
    raw = _default_client().get(_id_key(lease_id))
    held = raw.decode() if isinstance(raw, bytes) else str(raw or "")
    zset = held.partition("|")[0]
    return Lease(lease_id=lease_id, asset_id=zset.removeprefix(LEASE_PREFIX), expires_at=expires)


def usage_client() -> Redis:
    """The process's shared Redis client (pooled), for callers on the same hot paths."""
    return _default_client()


def active_counts(asset_ids: Iterable[str]) -> dict[str, int]:
    """Active sessions per asset (used by the UI and metrics)."""
    return _default().active_counts(asset_ids)


def queue_snapshots(asset_ids: Iterable[str]) -> dict[str, QueueSnapshot]:
    """Queue depth and averaged wait per asset (used by the UI and metrics)."""
    return _default().queue_snapshots(asset_ids)
