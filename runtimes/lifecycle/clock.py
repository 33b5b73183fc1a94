"""The lifecycle's clock: every "now" in the lifecycle is ``clock.now()``, so tests can move it.

In-process tests call ``advance(seconds)`` / ``reset()``; tests that run Celery workers start
them through ``tests/lifecycle/clock_worker.py``, which makes ``now`` add an offset shared in
Redis. Production code never moves it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

_offset_s = 0.0


def now() -> datetime:
    """The current time (aware, UTC), plus any offset a test applied."""
    return timezone.now() + timedelta(seconds=_offset_s)


def advance(seconds: float) -> None:
    """Move this process's clock forward."""
    global _offset_s
    _offset_s += seconds


def reset() -> None:
    global _offset_s
    _offset_s = 0.0
