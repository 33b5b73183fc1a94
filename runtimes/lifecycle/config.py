"""Lifecycle knobs, read from the settings of the same name (declared in ``hub/settings.py``)."""

from __future__ import annotations

import random

from django.conf import settings

from runtimes.upstream import UpstreamSecrets


def restart_max_attempts() -> int:
    """Failed starts (or crashes) in a row before the asset is ``failed``."""
    return max(1, int(settings.HUB_RESTART_MAX_ATTEMPTS))


def backoff_base_s() -> float:
    return float(settings.HUB_BACKOFF_BASE_S)


def backoff_cap_s() -> float:
    return float(settings.HUB_BACKOFF_CAP_S)


def stable_after_s() -> float:
    """Healthy this long after becoming ready: the failure count starts over."""
    return float(settings.HUB_STABLE_AFTER_S)


def task_max_deliveries() -> int:
    """Deliveries of one task (its worker died each time) before the asset is ``failed``."""
    return max(1, int(settings.HUB_TASK_MAX_DELIVERIES))


def ready_poll_max_s() -> float:
    """Longest pause between two readiness probes while a runtime starts."""
    return float(settings.HUB_READY_POLL_MAX_S)


def start_pickup_timeout_s() -> float:
    """A start still waiting this long with no live worker on its host's queue is ``failed``."""
    return float(settings.HUB_START_PICKUP_TIMEOUT_S)


def default_load_estimate_s() -> int:
    """``Retry-After`` for a runtime never started before."""
    return int(settings.HUB_DEFAULT_LOAD_ESTIMATE_S)


def host_name() -> str:
    """This machine's name as ``runtime.host`` spells it (its Celery queue is ``hub.host.<name>``)."""
    return str(settings.HUB_HOST_NAME)


def launcher_dir() -> str:
    return str(settings.HUB_RUNTIME_LOG_DIR)


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
