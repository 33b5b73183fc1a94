"""Metrics tasks (thin): fold the usage stream, and prove the worker is alive.

Scheduled here with ``add_periodic_task`` so the beat entry lives next to the task;
``hub.celery`` discovers this module (``autodiscover_tasks(["runtimes.metrics"])``).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from hub.celery import app
from runtimes.metrics import heartbeat

log = logging.getLogger(__name__)

AGGREGATE_INTERVAL_S = float(settings.HUB_USAGE_AGGREGATE_INTERVAL_S)


@app.task(name="runtimes.aggregate_usage", acks_late=True, ignore_result=True)
def aggregate_usage() -> dict[str, Any]:
    """Fold new usage into the live buckets and the per-minute rollups; prune old minutes."""
    from runtimes.metrics.live import fold_live
    from runtimes.metrics.rollup import aggregate_usage as aggregate

    folded = fold_live()
    result = aggregate()
    if result.applied or result.pruned:
        log.info("usage aggregated: %d entries applied, %d minutes pruned", result.applied, result.pruned)
    return {
        "live_folded": folded,
        "applied": result.applied,
        "skipped": result.skipped,
        "pruned": result.pruned,
    }


@app.task(name="runtimes.metrics_heartbeat", ignore_result=True)
def metrics_heartbeat() -> None:
    """The worker that runs this is alive (its hostname is the key)."""
    heartbeat.record_worker(metrics_heartbeat.request.hostname)


# ``expires``: a run that waited longer than one interval is dropped; the next one does its work.
app.add_periodic_task(
    AGGREGATE_INTERVAL_S, aggregate_usage.s(), name="runtimes.aggregate_usage", expires=AGGREGATE_INTERVAL_S
)
app.add_periodic_task(
    heartbeat.HEARTBEAT_INTERVAL_S,
    metrics_heartbeat.s(),
    name="runtimes.metrics_heartbeat",
    expires=heartbeat.HEARTBEAT_INTERVAL_S,
)
