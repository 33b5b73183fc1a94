"""The lifecycle's clock: every "now" in the lifecycle comes from here, so tests can move it.

In-process tests call ``advance(seconds)`` / ``reset()``. Tests that run a separate
Celery worker set ``HUB_TEST_CLOCK`` (a setting, from the environment; never in
production) and move the shared offset with ``advance(seconds, shared=True)``, kept in Redis.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from redis import Redis

SHARED_OFFSET_KEY = "hub:test:clock-offset"

_offset_s = 0.0


def _shared_enabled() -> bool:
    return bool(settings.HUB_TEST_CLOCK)


def _client() -> Redis:
    return Redis.from_url(settings.REDIS_URL)


def _shared_offset() -> float:
    if not _shared_enabled():
        return 0.0
    with _client() as client:
        raw = client.get(SHARED_OFFSET_KEY)
    return float(raw) if raw else 0.0


def now() -> datetime:
    """The current time (aware, UTC), plus any offset a test applied."""
    return timezone.now() + timedelta(seconds=_offset_s + _shared_offset())


def advance(seconds: float, *, shared: bool = False) -> None:
    """Move the clock forward (tests only)."""
    global _offset_s
    if shared:
        with _client() as client:
            client.incrbyfloat(SHARED_OFFSET_KEY, seconds)
    else:
        _offset_s += seconds


def reset() -> None:
    global _offset_s
    _offset_s = 0.0
    if _shared_enabled():
        with _client() as client:
            client.delete(SHARED_OFFSET_KEY)
