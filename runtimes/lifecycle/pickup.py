"""Starts that no worker will pick up fail, with the reason, instead of ``starting`` forever.

A launched runtime's lifecycle work goes to its host's queue (``hub.host.<host>``). When no
live worker consumes that queue (``runtime.host`` names a machine without a worker, or its
worker died mid-start) nothing would ever move the asset on. Beat's reconcile pass calls
:func:`unpicked_starts` and fails each: an asset ``starting`` for longer than
``HUB_START_PICKUP_TIMEOUT_S`` whose queue has no consumer is ``failed`` with
"no live worker for host X". A queue with a live consumer is left alone (a slow load, or a
busy worker, is not a lost start).
"""

from __future__ import annotations

from datetime import timedelta

from celery import current_app

from runtimes.lifecycle import clock, config, dispatch
from runtimes.models import ObservedState, RuntimeState

INSPECT_TIMEOUT_S = 2.0


def consumed_queues() -> set[str] | None:
    """Names of the queues live workers consume now; None when no worker answered at all."""
    replies = current_app.control.inspect(timeout=INSPECT_TIMEOUT_S).active_queues()
    if not replies:
        return None  # not even the worker running this: do not conclude anything
    return {str(queue.get("name")) for queues in replies.values() for queue in queues or []}


def overdue_starts() -> list[tuple[RuntimeState, str]]:
    """(state, host) of every start older than the pickup timeout that must run on one host."""
    cutoff = clock.now() - timedelta(seconds=config.start_pickup_timeout_s())
    waiting = RuntimeState.objects.filter(state=ObservedState.STARTING, started_at__lt=cutoff)
    out = []
    for rs in waiting.select_related("asset"):
        host = dispatch.target_host(rs.asset)
        if host:
            out.append((rs, host))
    return out


def unpicked_starts() -> list[tuple[str, str]]:
    """(asset id, reason) of every overdue start whose host queue has no live consumer."""
    overdue = overdue_starts()
    if not overdue:
        return []
    queues = consumed_queues()
    if queues is None:
        return []
    limit = config.start_pickup_timeout_s()
    return [
        (
            rs.asset.asset_id,
            f"no live worker for host {host}: nothing took the start within {limit:g}s "
            f"(start a worker with HUB_HOST_NAME={host}, or unpin the asset)",
        )
        for rs, host in overdue
        if dispatch.host_queue(host) not in queues
    ]
