"""The gateway's tunables, read once per process from ``django.conf.settings``.

A field declared with :func:`from_setting` names the setting it is read from (its default and
help live in ``hub/settings.py``, its one home); the others are fixed tunables with their
default here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from django.conf import settings

_READ = "read"  # the metadata key of a field read from the settings


def from_setting(read: Callable[[], Any]) -> Any:
    """A field whose value :meth:`GatewayConfig.from_settings` takes from ``read()``."""
    return field(metadata={_READ: read})


@dataclass(frozen=True, kw_only=True)
class GatewayConfig:
    redis_url: str = from_setting(lambda: settings.REDIS_URL)
    wake_wait_s: float = from_setting(lambda: settings.HUB_GATEWAY_WAKE_WAIT_S)
    target_ttl_s: float = from_setting(lambda: settings.HUB_GATEWAY_CACHE_TTL_S)
    connect_timeout_s: float = 5.0
    read_timeout_s: float = from_setting(lambda: settings.HUB_GATEWAY_READ_TIMEOUT_S)
    max_connections_per_upstream: int = 1000
    redis_max_connections: int = from_setting(lambda: settings.HUB_GATEWAY_REDIS_CONNECTIONS)
    redis_pool_timeout_s: float = 5.0
    mark_request_every_s: float = 10.0
    # where upstream key files may live; a rotated key file is used within secret_ttl_s
    secrets_dir: str | None = from_setting(lambda: settings.HUB_RUNTIME_SECRETS_DIR)
    secret_ttl_s: float = from_setting(lambda: settings.HUB_RUNTIME_SECRET_CACHE_S)
    max_body_bytes: int = from_setting(lambda: settings.HUB_GATEWAY_MAX_BODY_BYTES)
    max_depth: int = from_setting(lambda: settings.HUB_MAX_JSON_DEPTH)
    # a slot or queue place lives lease_ttl_s without a heartbeat
    lease_ttl_s: float = from_setting(lambda: settings.HUB_GATEWAY_LEASE_TTL_S)
    heartbeat_s: float = from_setting(lambda: settings.HUB_GATEWAY_HEARTBEAT_S)
    queue_poll_s: float = 0.5  # waiters' tickets are checked this often (a lost grant message)
    # SSE comment interval for a streamed request that waits
    queue_keepalive_s: float = from_setting(lambda: settings.HUB_GATEWAY_QUEUE_KEEPALIVE_S)

    @classmethod
    def from_settings(cls) -> GatewayConfig:
        """Every field declared ``from_setting`` read now; the fixed tunables at their default."""
        return cls(**{f.name: f.metadata[_READ]() for f in fields(cls) if _READ in f.metadata})
