"""Lifecycle knobs: a Django setting of the same name wins, else the environment, else the default."""

from __future__ import annotations

import random
import socket

from django.conf import settings

from hub.env import env_float, env_int, env_str
from runtimes.upstream import UpstreamSecrets


def _float(name: str, default: float) -> float:
    value = getattr(settings, name, None)
    return float(value) if value is not None else env_float(name, default)


def _int(name: str, default: int) -> int:
    value = getattr(settings, name, None)
    return int(value) if value is not None else env_int(name, default)


def restart_max_attempts() -> int:
    """Failed starts (or crashes) in a row before the asset is ``failed``."""
    return max(1, _int("HUB_RESTART_MAX_ATTEMPTS", 5))


def backoff_base_s() -> float:
    return _float("HUB_BACKOFF_BASE_S", 2.0)


def backoff_cap_s() -> float:
    return _float("HUB_BACKOFF_CAP_S", 300.0)


def stable_after_s() -> float:
    """Healthy this long after becoming ready: the failure count starts over."""
    return _float("HUB_STABLE_AFTER_S", 60.0)


def task_max_deliveries() -> int:
    """Deliveries of one task (its worker died each time) before the asset is ``failed``."""
    return max(1, _int("HUB_TASK_MAX_DELIVERIES", 3))


def ready_poll_max_s() -> float:
    """Longest pause between two readiness probes while a runtime starts."""
    return _float("HUB_READY_POLL_MAX_S", 0.1)


def start_pickup_timeout_s() -> float:
    """A start still waiting this long with no live worker on its host's queue is ``failed``."""
    return _float("HUB_START_PICKUP_TIMEOUT_S", 60.0)


def default_load_estimate_s() -> int:
    """``Retry-After`` for a runtime never started before."""
    return _int("HUB_DEFAULT_LOAD_ESTIMATE_S", 10)


def host_name() -> str:
    """This machine's name as ``runtime.host`` spells it (its Celery queue is ``hub.host.<name>``)."""
    value = getattr(settings, "HUB_HOST_NAME", None)
    return str(value) if value else env_str("HUB_HOST_NAME", socket.gethostname())


def launcher_dir() -> str:
    return str(getattr(settings, "HUB_RUNTIME_LOG_DIR", "var/runtimes"))


def launch_allowed_executables() -> list[str]:
    """``HUB_LAUNCH_ALLOWED_EXECUTABLES``: what the launcher may start (``runtimes.launch_policy``)."""
    return list(settings.HUB_LAUNCH_ALLOWED_EXECUTABLES)


def upstream_secrets() -> UpstreamSecrets:
    """Where upstream API keys may be read from (``runtimes.upstream``)."""
    return UpstreamSecrets(settings.HUB_RUNTIME_SECRETS_DIR, ttl_s=settings.HUB_RUNTIME_SECRET_CACHE_S)


def backoff_s(failures: int, *, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: base·2^(n-1), capped, times a random 0.5-1.0."""
    base, cap = backoff_base_s(), backoff_cap_s()
    raw: float = min(cap, base * 2.0 ** max(0, failures - 1))
    jitter: float = (rng or random.Random()).uniform(0.5, 1.0)
    return raw * jitter
