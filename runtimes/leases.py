"""Concurrency leases in Redis: ``policy.max_concurrency`` enforced across every gateway process.

One sorted set per asset (``hub:lease:<asset_id>``) maps lease id -> expiry (unix ms), and
one string per lease (``hub:lease-id:<lease_id>``) remembers which asset it belongs to, so
renew and release need only the lease id. Acquire and release are one Lua script call
each (Redis 6.2 compatible: ZREMRANGEBYSCORE / ZCARD / ZADD / ZREM only), which makes
them atomic against every other caller:

- an expired lease frees its slot by itself: every acquire purges expired members first,
  and :func:`active_counts` counts only unexpired ones;
- a stale lease id cannot free anyone else's slot: ids are random (128 bits) and release
  removes only that member;
- the script reads the clock from Redis (``TIME``), so callers' clocks do not matter.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from redis import Redis
from redis.asyncio import Redis as AsyncRedis

LEASE_PREFIX = "hub:lease:"
LEASE_ID_PREFIX = "hub:lease-id:"
MAX_TTL_S = 24 * 3600.0

# KEYS[1] lease zset, KEYS[2] lease-id key; ARGV: lease_id, max, ttl_ms.
# Returns {1, expires_ms} when acquired, {0, ms until the soonest lease expires} when full.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local wait = 1000
  if first[2] then wait = tonumber(first[2]) - now end
  return {0, wait}
end
local expires = now + ttl
redis.call('ZADD', KEYS[1], expires, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl + 60000)
redis.call('SET', KEYS[2], KEYS[1], 'PX', ttl)
return {1, expires}
"""

# KEYS[1] lease-id key; ARGV: lease_id. Returns 1 if a live lease was removed.
_RELEASE = """
local zset = redis.call('GET', KEYS[1])
if not zset then return 0 end
redis.call('DEL', KEYS[1])
return redis.call('ZREM', zset, ARGV[1])
"""

# KEYS[1] lease-id key; ARGV: lease_id, ttl_ms. Returns the new expiry, or 0 if the lease is gone.
_RENEW = """
local zset = redis.call('GET', KEYS[1])
if not zset then return 0 end
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
redis.call('SET', KEYS[1], zset, 'PX', ttl)
return expires
"""


@dataclass(frozen=True)
class Lease:
    lease_id: str
    asset_id: str
    expires_at: float  # unix seconds


@dataclass(frozen=True)
class LeaseRefused:
    """Every slot is held; the soonest one expires in ``retry_after`` seconds (at the latest)."""

    retry_after: float


def _key(asset_id: str) -> str:
    return LEASE_PREFIX + asset_id


def _id_key(lease_id: str) -> str:
    return LEASE_ID_PREFIX + lease_id


@lru_cache(maxsize=1)
def _default_client() -> Redis:
    from django.conf import settings

    return Redis.from_url(settings.REDIS_URL)


class Leases:
    """The lease scripts bound to one Redis client (scripts are loaded once, then EVALSHA)."""

    def __init__(self, client: Redis) -> None:
        self.client = client
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)

    def try_acquire(self, asset_id: str, max_concurrency: int, ttl_s: float) -> Lease | LeaseRefused:
        """Take one of ``max_concurrency`` slots for ``ttl_s`` seconds, or say how long to wait."""
        ttl_ms = _ttl_ms(ttl_s)
        lease_id = secrets.token_urlsafe(16)
        result = cast(
            list[Any],
            self._acquire(keys=[_key(asset_id), _id_key(lease_id)], args=[lease_id, max_concurrency, ttl_ms]),
        )
        if int(result[0]) == 1:
            return Lease(lease_id=lease_id, asset_id=asset_id, expires_at=int(result[1]) / 1000)
        return LeaseRefused(retry_after=max(0.001, int(result[1]) / 1000))

    def acquire(self, asset_id: str, max_concurrency: int, ttl_s: float) -> Lease | None:
        got = self.try_acquire(asset_id, max_concurrency, ttl_s)
        return got if isinstance(got, Lease) else None

    def release(self, lease_id: str) -> bool:
        """Free the lease's slot; False if it had already expired or been released. Idempotent."""
        return int(cast(int, self._release(keys=[_id_key(lease_id)], args=[lease_id]))) == 1

    def renew(self, lease_id: str, ttl_s: float) -> float | None:
        """Extend a live lease to ``now + ttl_s``; the new expiry (unix s), or None if it is gone."""
        expires = int(cast(int, self._renew(keys=[_id_key(lease_id)], args=[lease_id, _ttl_ms(ttl_s)])))
        return expires / 1000 if expires else None

    def active_counts(self, asset_ids: Iterable[str]) -> dict[str, int]:
        """Live (unexpired) leases per asset; assets with none map to 0."""
        ids = list(asset_ids)
        if not ids:
            return {}
        now_s, now_us = self.client.time()
        now_ms = now_s * 1000 + now_us // 1000
        pipe = self.client.pipeline(transaction=False)
        for asset_id in ids:
            pipe.zcount(_key(asset_id), f"({now_ms}", "+inf")
        return {asset_id: int(n) for asset_id, n in zip(ids, pipe.execute(), strict=True)}


def _ttl_ms(ttl_s: float) -> int:
    if not 0 < ttl_s <= MAX_TTL_S:
        raise ValueError(f"ttl_s must be in (0, {MAX_TTL_S:g}]")
    return max(1, int(ttl_s * 1000))


@lru_cache(maxsize=1)
def _default() -> Leases:
    return Leases(_default_client())


def acquire(asset_id: str, max_concurrency: int, ttl_s: float) -> Lease | None:
    """A lease on one of ``max_concurrency`` slots of ``asset_id``, or None when all are held."""
    return _default().acquire(asset_id, max_concurrency, ttl_s)


def try_acquire(asset_id: str, max_concurrency: int, ttl_s: float) -> Lease | LeaseRefused:
    return _default().try_acquire(asset_id, max_concurrency, ttl_s)


def release(lease_id: str) -> bool:
    return _default().release(lease_id)


def renew(lease_id: str, ttl_s: float) -> float | None:
    """Extend a live lease; the new expiry (unix s), or None if it expired or was released."""
    return _default().renew(lease_id, ttl_s)


def renew_lease(lease_id: str, ttl_s: float) -> Lease | None:
    """:func:`renew`, answering the whole lease (with its asset id)."""
    expires = renew(lease_id, ttl_s)
    if expires is None:
        return None
    raw = _default_client().get(_id_key(lease_id))
    key = raw.decode() if isinstance(raw, bytes) else str(raw or "")
    return Lease(lease_id=lease_id, asset_id=key.removeprefix(LEASE_PREFIX), expires_at=expires)


def usage_client() -> Redis:
    """The process's shared Redis client (pooled), for callers on the same hot paths."""
    return _default_client()


def active_counts(asset_ids: Iterable[str]) -> dict[str, int]:
    """Active sessions per asset (used by the UI and metrics)."""
    return _default().active_counts(asset_ids)


class AsyncLeases:
    """The same scripts for asyncio callers (the gateway)."""

    def __init__(self, client: AsyncRedis) -> None:
        self.client = client
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)

    async def try_acquire(self, asset_id: str, max_concurrency: int, ttl_s: float) -> Lease | LeaseRefused:
        ttl_ms = _ttl_ms(ttl_s)
        lease_id = secrets.token_urlsafe(16)
        result = cast(
            list[Any],
            await self._acquire(
                keys=[_key(asset_id), _id_key(lease_id)], args=[lease_id, max_concurrency, ttl_ms]
            ),
        )
        if int(result[0]) == 1:
            return Lease(lease_id=lease_id, asset_id=asset_id, expires_at=int(result[1]) / 1000)
        return LeaseRefused(retry_after=max(0.001, int(result[1]) / 1000))

    async def release(self, lease_id: str) -> bool:
        return int(cast(int, await self._release(keys=[_id_key(lease_id)], args=[lease_id]))) == 1

    async def renew(self, lease_id: str, ttl_s: float) -> float | None:
        expires = int(cast(int, await self._renew(keys=[_id_key(lease_id)], args=[lease_id, _ttl_ms(ttl_s)])))
        return expires / 1000 if expires else None
