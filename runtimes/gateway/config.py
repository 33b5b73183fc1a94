"""The gateway's tunables, read once per process from ``django.conf.settings``."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from runtimes.upstream import DEFAULT_SECRET_TTL_S


@dataclass(frozen=True)
class GatewayConfig:
    redis_url: str
    wake_wait_s: float = 30.0
    wake_poll_s: float = 0.25
    target_ttl_s: float = 5.0
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 300.0
    max_connections_per_upstream: int = 1000
    redis_max_connections: int = 256
    redis_pool_timeout_s: float = 5.0
    mark_request_every_s: float = 10.0
    secrets_dir: str | None = None  # HUB_RUNTIME_SECRETS_DIR: where upstream key files may live
    secret_ttl_s: float = DEFAULT_SECRET_TTL_S  # a rotated key file is used within this time
    max_body_bytes: int = 32 * 1024 * 1024
    max_depth: int = 64
    lease_ttl_s: float = 8.0  # a slot or queue place lives this long without a heartbeat
    heartbeat_s: float = 2.0
    queue_poll_s: float = 0.5  # waiters' tickets are checked this often (a lost grant message)
    queue_keepalive_s: float = 5.0  # SSE comment interval for a streamed request that waits

    @classmethod
    def from_settings(cls) -> GatewayConfig:
        return cls(
            redis_url=settings.REDIS_URL,
            wake_wait_s=settings.HUB_GATEWAY_WAKE_WAIT_S,
            target_ttl_s=settings.HUB_GATEWAY_CACHE_TTL_S,
            read_timeout_s=settings.HUB_GATEWAY_READ_TIMEOUT_S,
            redis_max_connections=settings.HUB_GATEWAY_REDIS_CONNECTIONS,
            secrets_dir=settings.HUB_RUNTIME_SECRETS_DIR,
            secret_ttl_s=settings.HUB_RUNTIME_SECRET_CACHE_S,
            max_body_bytes=settings.HUB_GATEWAY_MAX_BODY_BYTES,
            max_depth=settings.HUB_MAX_JSON_DEPTH,
            lease_ttl_s=settings.HUB_GATEWAY_LEASE_TTL_S,
            heartbeat_s=settings.HUB_GATEWAY_HEARTBEAT_S,
            queue_keepalive_s=settings.HUB_GATEWAY_QUEUE_KEEPALIVE_S,
        )
