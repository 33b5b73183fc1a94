"""Celery liveness for ``/metrics``: workers and beat leave heartbeat keys in Redis.

A worker writes ``hub:heartbeat:worker:<hostname>`` when it starts and whenever it runs
the ``runtimes.metrics_heartbeat`` task; beat writes ``hub:heartbeat:beat`` whenever it
publishes a task (beat publishes the heartbeat task every ``HEARTBEAT_INTERVAL_S``, so
a living beat always refreshes it). Keys expire after ``HEARTBEAT_TTL_S``: a worker
that is gone for good drops out of the export.

No Django models here: Celery imports this module while it starts.
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Any

from celery.signals import beat_init, before_task_publish, worker_ready
from redis import Redis

import core.redis

HEARTBEAT_INTERVAL_S = 15.0
HEARTBEAT_TTL_S = 3600
STALE_AFTER_S = 3 * HEARTBEAT_INTERVAL_S  # older than this: reported down
WORKER_PREFIX = "hub:heartbeat:worker:"
BEAT_KEY = "hub:heartbeat:beat"

_state = {"in_beat": False, "last_beat_write": 0.0}


def _client() -> Redis:
    return core.redis.client()


def record_worker(
    hostname: str | None = None, *, client: Redis | None = None, now: float | None = None
) -> None:
    (client or _client()).set(
        WORKER_PREFIX + (hostname or socket.gethostname()), repr(now or time.time()), ex=HEARTBEAT_TTL_S
    )


def record_beat(*, client: Redis | None = None, now: float | None = None) -> None:
    (client or _client()).set(BEAT_KEY, repr(now or time.time()), ex=HEARTBEAT_TTL_S)


def last_seen(client: Redis | None = None) -> tuple[dict[str, float], float | None]:
    """(worker hostname -> last heartbeat, beat's last heartbeat or None), unix seconds."""
    client = client or _client()
    workers: dict[str, float] = {}
    keys = [k.decode() if isinstance(k, bytes) else str(k) for k in client.scan_iter(WORKER_PREFIX + "*")]
    values = client.mget(keys) if keys else []
    for key, value in zip(keys, values, strict=True):
        if value is not None:
            workers[key.removeprefix(WORKER_PREFIX)] = float(value)
    beat = client.get(BEAT_KEY)
    return workers, float(beat) if beat is not None else None


@worker_ready.connect
def _on_worker_ready(sender: Any = None, **kwargs: Any) -> None:
    # Liveness is best effort: it must never stop a worker or beat from running.
    with contextlib.suppress(Exception):
        record_worker(getattr(sender, "hostname", None))


@beat_init.connect
def _on_beat_init(sender: Any = None, **kwargs: Any) -> None:
    _state["in_beat"] = True
    with contextlib.suppress(Exception):
        record_beat()


@before_task_publish.connect
def _on_publish(sender: Any = None, **kwargs: Any) -> None:
    # Only the beat process counts, at most once a second whatever it publishes.
    if not _state["in_beat"] or time.monotonic() - _state["last_beat_write"] < 1.0:
        return
    _state["last_beat_write"] = time.monotonic()
    with contextlib.suppress(Exception):
        record_beat()
