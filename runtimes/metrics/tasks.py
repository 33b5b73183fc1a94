"""Metrics tasks (thin): fold the usage stream, and prove the worker is alive.

``hub.celery`` discovers this module (``autodiscover_tasks(["runtimes.metrics"])``) and
schedules both in its beat schedule.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from runtimes.metrics import heartbeat
from runtimes.metrics.live import fold_live
from runtimes.metrics.rollup import aggregate_usage as aggregate

log = logging.getLogger(__name__)


@shared_task(name="runtimes.aggregate_usage", acks_late=True, ignore_result=True)
def aggregate_usage() -> dict[str, Any]:
    """Fold new usage into the live buckets and the per-minute rollups; prune old minutes."""
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


@shared_task(name="runtimes.metrics_heartbeat", ignore_result=True)
def metrics_heartbeat() -> None:
    """The worker that runs this is alive (its hostname is the key)."""
    heartbeat.record_worker(metrics_heartbeat.request.hostname)
