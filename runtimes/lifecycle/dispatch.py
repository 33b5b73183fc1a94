"""Enqueueing lifecycle tasks: after commit, ids only, on the queue of the runtime's host."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from models_admin.models import Asset
from runtimes.lifecycle import config
from runtimes.lifecycle.policy import policy_for
from runtimes.models import RuntimeState

DEFAULT_QUEUE = "hub"


def host_queue(host: str) -> str:
    return f"hub.host.{host}"


def target_host(asset: Asset) -> str | None:
    """The host that must run this asset's lifecycle work, or None if any worker may.

    A launched process lives on one machine: the one ``runtime.host`` names, else the
    one that started it last (recorded in ``RuntimeState.host``).
    """
    policy = policy_for(asset)
    if not policy.launched:
        return None
    if policy.host:
        return policy.host
    recorded = RuntimeState.objects.filter(asset=asset).values_list("host", flat=True).first()
    return recorded or None


def queue_for(asset: Asset) -> str:
    host = target_host(asset)
    return host_queue(host) if host else DEFAULT_QUEUE


def is_local(asset: Asset) -> bool:
    host = target_host(asset)
    return host is None or host == config.host_name()


def reconcile_on_commit(asset: Asset, *, countdown: float | None = None) -> None:
    """Reconcile ``asset`` once the current transaction commits (never if it rolls back)."""
    from runtimes.tasks import reconcile_asset

    queue, asset_id = queue_for(asset), asset.asset_id
    options: dict[str, Any] = {"queue": queue}
    if countdown is not None:
        options["countdown"] = countdown
    transaction.on_commit(lambda: reconcile_asset.apply_async(args=(asset_id,), **options))


def health_on_commit(asset: Asset) -> None:
    from runtimes.tasks import check_asset_health

    queue, asset_id = queue_for(asset), asset.asset_id
    transaction.on_commit(lambda: check_asset_health.apply_async(args=(asset_id,), queue=queue))
