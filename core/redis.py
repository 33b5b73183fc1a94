"""The hub's Redis clients, built here only (settings.REDIS_URL).

``client()`` is the process's shared client (one connection pool; redis-py starts a new pool
after a fork); ``probe()`` is a short-lived client with a tight timeout for health checks;
``async_client()`` builds the pool of an asyncio process (the gateway owns it and closes it).
"""

from __future__ import annotations

import functools

from django.conf import settings
from redis import Redis
from redis.asyncio import BlockingConnectionPool
from redis.asyncio import Redis as AsyncRedis

SOCKET_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0


@functools.cache
def client() -> Redis:
    """The process's Redis client (bytes in, bytes out)."""
    return Redis.from_url(
        settings.REDIS_URL, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=CONNECT_TIMEOUT_S
    )


def probe(timeout_s: float = 2.0) -> Redis:
    """A client of its own with a short timeout: close it after use."""
    return Redis.from_url(settings.REDIS_URL, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)


def async_client(*, url: str | None = None, max_connections: int, pool_timeout_s: float) -> AsyncRedis:
    """An asyncio client (of ``url``, default ``REDIS_URL``) whose callers wait up to
    ``pool_timeout_s`` for one of ``max_connections`` (a blocking pool: a burst beyond its size
    waits for a free connection instead of failing with "Too many connections")."""
    pool = BlockingConnectionPool.from_url(
        url or settings.REDIS_URL,
        max_connections=max_connections,
        timeout=pool_timeout_s,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
    )
    return AsyncRedis(connection_pool=pool)
