"""Enqueueing lifecycle tasks: after commit, ids only, on the queue of the runtime's host.

Tasks are sent by their registered name (``celery.current_app.send_task``): the lifecycle
never imports ``runtimes.tasks`` (the tasks import the lifecycle, not the reverse).
"""

from __future__ import annotations

from typing import Any

from celery import current_app
from django.db import transaction

from models_admin.models import Asset
from runtimes.lifecycle import config
from runtimes.lifecycle.policy import policy_for
from runtimes.models import ObservedState, RuntimeState

DEFAULT_QUEUE = "hub"
RECONCILE_ASSET = "runtimes.reconcile_asset"
CHECK_ASSET_HEALTH = "runtimes.check_asset_health"
RECONCILE_ALL = "runtimes.reconcile_all"
CHECK_HEALTH_ALL = "runtimes.check_health_all"
S = ObservedState
HOST_BOUND = (S.STARTING, S.RUNNING, S.STOPPING, S.UNREACHABLE)


def host_queue(host: str) -> str:
    return f"hub.host.{host}"


def target_host(asset: Asset) -> str | None:
    """The host that must run this asset's lifecycle work, or None if any worker may.

    A launched process lives on one machine: the one ``runtime.host`` names, else the one
    it was placed on (``RuntimeState.host``) while it is placed there (starting, running,
    stopping, unreachable) or a process of it is known.
    """
    policy = policy_for(asset)
    if not policy.launched:
        return None
    if policy.host:
        return policy.host
    row = RuntimeState.objects.filter(asset=asset).values_list("host", "state", "process").first()
    if row is None:
        return None
    host, state, process = row
    if state not in HOST_BOUND and process is None:
        return None  # nothing runs: its next start is placed afresh (preferring that host)
    return host or None


def queue_for(asset: Asset) -> str:
    host = target_host(asset)
    return host_queue(host) if host else DEFAULT_QUEUE


def is_local(asset: Asset) -> bool:
    host = target_host(asset)
    return host is None or host == config.host_name()


def send(name: str, asset_id: str, *, queue: str, countdown: float | None = None) -> None:
    """Send the task registered as ``name`` for ``asset_id`` now (callers defer it to commit)."""
    options: dict[str, Any] = {"queue": queue}
    if countdown is not None:
        options["countdown"] = countdown
    current_app.send_task(name, args=(asset_id,), **options)


def reconcile_on_commit(asset: Asset, *, countdown: float | None = None) -> None:
    """Reconcile ``asset`` once the current transaction commits (never if it rolls back)."""
    queue, asset_id = queue_for(asset), asset.asset_id
    transaction.on_commit(lambda: send(RECONCILE_ASSET, asset_id, queue=queue, countdown=countdown))


def health_on_commit(asset: Asset) -> None:
    queue, asset_id = queue_for(asset), asset.asset_id
    transaction.on_commit(lambda: send(CHECK_ASSET_HEALTH, asset_id, queue=queue))
