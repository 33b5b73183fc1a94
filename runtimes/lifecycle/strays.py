"""When a worker starts, it stops the runtime processes its host left that the hub no longer
places there: an asset moved to another host while this one was unreachable, or put to sleep
meanwhile. Without this, a host coming back would keep serving (and holding VRAM for) a copy
nobody routes to.

Kept: a process of an asset placed on this host (starting, running, stopping, unreachable)
whose recorded pid it is, and any process of a start in flight (the reconcile adopts it).
"""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import worker_ready

from runtimes.lifecycle import config, runner
from runtimes.models import ObservedState, RuntimeState
from runtimes.protocols.managed import ProcessHandle

log = logging.getLogger(__name__)
S = ObservedState
PLACED_HERE = (S.STARTING, S.RUNNING, S.STOPPING, S.UNREACHABLE)


def _wanted(handle: ProcessHandle, placed: dict[str, RuntimeState]) -> bool:
    rs = placed.get(handle.key)
    if rs is None:
        return False
    if rs.state == S.STARTING:
        return True
    return (rs.process or {}).get("pid") == handle.pid


def stop_strays() -> list[str]:
    """Stop this host's launched processes the hub does not place here; returns their keys."""
    me = config.host_name()
    placed = {
        rs.asset.asset_id: rs
        for rs in RuntimeState.objects.filter(state__in=PLACED_HERE, host__in=[me, ""]).select_related(
            "asset"
        )
    }
    launcher = runner.launcher()
    strays = [h for h in launcher.recorded().values() if launcher.is_alive(h) and not _wanted(h, placed)]
    launcher.recover(keep=lambda handle: _wanted(handle, placed))
    for handle in strays:
        log.warning(
            "%s: stopped a process this host left (pid %s): the hub places it elsewhere now",
            handle.key,
            handle.pid,
        )
    return sorted(h.key for h in strays)


def _on_ready(sender: Any = None, **kwargs: Any) -> None:
    try:
        stop_strays()
    except Exception:  # the worker must start even if the sweep cannot run now
        log.exception("could not look for stray runtime processes")


def connect() -> None:
    worker_ready.connect(_on_ready, weak=False, dispatch_uid="hub-stop-strays")
