"""Lifecycle tasks: thin, named, JSON, ids only. Each re-reads the asset and calls the lifecycle.

Enqueue them through ``runtimes.lifecycle.dispatch`` (after commit, on the right host's
queue, by the names below), never directly from a view. The tasks import the lifecycle;
the lifecycle never imports this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import shared_task

from runtimes.lifecycle import dispatch
from runtimes.lifecycle.delivery import begin_delivery, end_delivery
from runtimes.lifecycle.health import check_health
from runtimes.lifecycle.reconcile import check_health_all as _check_health_all
from runtimes.lifecycle.reconcile import reconcile
from runtimes.lifecycle.reconcile import reconcile_all as _reconcile_all


def _guarded(task: Any, asset_id: str, work: Callable[[str], str | None]) -> str | None:
    """Run ``work`` unless this task already killed its worker too often (then: ``failed``)."""
    task_id = str(task.request.id or "")
    if task_id and not begin_delivery(task_id, asset_id):
        return None
    try:
        return work(asset_id)
    finally:
        if task_id:
            end_delivery(task_id)


@shared_task(name=dispatch.RECONCILE_ASSET, bind=True)
def reconcile_asset(self: Any, asset_id: str) -> str | None:
    return _guarded(self, asset_id, reconcile)


@shared_task(name=dispatch.CHECK_ASSET_HEALTH, bind=True)
def check_asset_health(self: Any, asset_id: str) -> str | None:
    return _guarded(self, asset_id, check_health)


@shared_task(name=dispatch.RECONCILE_ALL)
def reconcile_all() -> int:
    return _reconcile_all()


@shared_task(name=dispatch.CHECK_HEALTH_ALL)
def check_health_all() -> int:
    return _check_health_all()
