"""Lifecycle tasks: thin, named, JSON, ids only. Each re-reads the asset and calls one service.

Enqueue them through ``runtimes.lifecycle.dispatch`` (after commit, on the right
host's queue), never directly from a view.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from runtimes import lifecycle


def _guarded(task: Any, asset_id: str, work: Any) -> Any:
    """Run ``work`` unless this task already killed its worker too often (then: ``failed``)."""
    task_id = str(task.request.id or "")
    if task_id and not lifecycle.begin_delivery(task_id, asset_id):
        return None
    try:
        return work(asset_id)
    finally:
        if task_id:
            lifecycle.end_delivery(task_id)


@shared_task(name="runtimes.reconcile_asset", bind=True)
def reconcile_asset(self: Any, asset_id: str) -> str | None:
    result: str | None = _guarded(self, asset_id, lifecycle.reconcile)
    return result


@shared_task(name="runtimes.check_asset_health", bind=True)
def check_asset_health(self: Any, asset_id: str) -> str | None:
    result: str | None = _guarded(self, asset_id, lifecycle.check_health)
    return result


@shared_task(name="runtimes.reconcile_all")
def reconcile_all() -> int:
    return lifecycle.reconcile_all()


@shared_task(name="runtimes.check_health_all")
def check_health_all() -> int:
    return lifecycle.check_health_all()
