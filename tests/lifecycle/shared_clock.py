"""A lifecycle clock offset shared by the test process and its Celery workers (kept in Redis).

``install()`` makes ``runtimes.lifecycle.clock.now`` add the shared offset; the test process
installs it in the ``lifecycle_settings`` fixture, workers in ``tests/lifecycle/clock_worker.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta

from redis import Redis

from runtimes.lifecycle import clock

OFFSET_KEY = "hub:test:clock-offset"


def _redis() -> Redis:
    from django.conf import settings

    return Redis.from_url(os.environ.get("REDIS_URL") or settings.REDIS_URL)


def offset_s() -> float:
    with _redis() as client:
        raw = client.get(OFFSET_KEY)
    return float(raw) if raw else 0.0


def advance(seconds: float) -> None:
    """Move every process's lifecycle clock forward."""
    with _redis() as client:
        client.incrbyfloat(OFFSET_KEY, seconds)


def reset() -> None:
    with _redis() as client:
        client.delete(OFFSET_KEY)


def install() -> Callable[[], datetime]:
    """Make ``clock.now`` add the shared offset; returns the function it replaced."""
    base = clock.now

    def now() -> datetime:
        return base() + timedelta(seconds=offset_s())

    clock.now = now
    return base
