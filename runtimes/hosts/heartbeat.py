"""A worker registers its host and heartbeats every ``HUB_HOST_HEARTBEAT_S`` seconds.

``connect()`` (called from the runtimes app's ``ready``) hooks Celery's ``worker_ready``:
the worker's main process then runs one daemon thread that measures the machine
(``runtimes.hosts.probe``), upserts its ``Host`` row and records what each runtime process
placed here uses. The thread ends with the worker; a worker killed outright simply stops
heartbeating, and its host turns unreachable after ``HUB_HOST_STALE_S``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import celery
from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections, connection

from runtimes.hosts import probe, registry

log = logging.getLogger(__name__)
_stop = threading.Event()


def host_name() -> str:
    return str(settings.HUB_HOST_NAME)


def worker_version() -> str:
    return f"hub {settings.HUB_VERSION} (celery {celery.__version__})"


def beat_once(queues: list[str]) -> None:
    """One heartbeat: measure, register, record per-process use."""
    machine = probe.machine()
    registry.record_heartbeat(host_name(), machine, queues=queues, version=worker_version())
    registry.record_measured_use(host_name(), machine)


def _loop(queues: list[str]) -> None:
    while not _stop.is_set():
        try:
            close_old_connections()
            beat_once(queues)
        except Exception:  # a failed beat must not end the loop: the next one may work
            log.exception("host heartbeat failed")
        _stop.wait(registry.heartbeat_s())
    connection.close()


def _queues(consumer: Any) -> list[str]:
    app = getattr(consumer, "app", None)
    consume_from = getattr(getattr(getattr(app, "amqp", None), "queues", None), "consume_from", None) or {}
    return [str(name) for name in consume_from]


def _on_ready(sender: Any = None, **kwargs: Any) -> None:
    _stop.clear()
    thread = threading.Thread(target=_loop, args=(_queues(sender),), name="hub-host-heartbeat", daemon=True)
    thread.start()


def _on_shutdown(sender: Any = None, **kwargs: Any) -> None:
    _stop.set()


def connect() -> None:
    worker_ready.connect(_on_ready, weak=False, dispatch_uid="hub-host-heartbeat")
    worker_shutdown.connect(_on_shutdown, weak=False, dispatch_uid="hub-host-heartbeat-stop")
