"""API router: lifecycle actions and state, lifecycle events, usage statistics, and the
gateway endpoints (resolve, leases, usage). Handlers parse, authorize, call one service.

State is never written directly: ``POST /assets/{id}/wake|sleep|restart`` ask the
lifecycle, which answers 409 for an illegal transition.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Status
from ninja.params.functions import Path, Query

from models_admin.asset_ids import ASSET_ID_MAX, ASSET_ID_SCHEMA_PATTERN
from models_admin.models import Asset
from runtimes import leases
from runtimes.errors import RuntimeBusy
from runtimes.gateway.auth import ApiError, Caller, api_auth
from runtimes.gateway.cache import connect_signals
from runtimes.gateway.resolver import resolver
from runtimes.lease_actions import do_acquire_lease, do_release_lease, do_renew_lease
from runtimes.leases import usage_client
from runtimes.schemas import (
    AcceptedOut,
    LeaseIn,
    LeaseOut,
    LeaseRenewIn,
    LifecycleEventOut,
    ResolveIn,
    ResolveOut,
    RuntimeStateOut,
    UsageEventIn,
    UsageIn,
    UsageStatsOut,
    with_errors,
)
from runtimes.usage import UsageEvent, publish

router = Router(tags=["lifecycle"])
gateway_router = Router(tags=["gateway"], auth=api_auth)

AssetId = Path(..., min_length=1, max_length=ASSET_ID_MAX, pattern=ASSET_ID_SCHEMA_PATTERN)
LeaseId = Path(..., min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")

connect_signals()


def caller(request: HttpRequest) -> Caller:
    auth = getattr(request, "auth", None)
    if not isinstance(auth, Caller):
        raise ApiError(401, "unauthenticated", "send a valid API token or log in")
    return auth


def require(request: HttpRequest, action: str) -> Caller:
    who = caller(request)
    if not who.may(action):
        raise ApiError(
            403, "permission_denied", f"this needs the {action!r} permission (role and token scope)"
        )
    return who


def _asset(asset_id: str) -> Asset:
    return get_object_or_404(Asset, asset_id=asset_id)


def _state_out(asset: Asset) -> dict[str, Any]:
    from runtimes.lifecycle.transitions import state_of

    rs = state_of(asset)
    return {
        "asset_id": asset.asset_id,
        "state": rs.state,
        "reason": rs.reason,
        "base_url": rs.base_url,
        "health": rs.observed_health,
        "health_detail": rs.health_detail,
        "last_error": rs.last_error,
        "started_at": rs.started_at,
        "ready_at": rs.ready_at,
        "last_request_at": rs.last_request_at,
        "active_sessions": leases.active_counts([asset.asset_id]).get(asset.asset_id, 0),
    }


@router.get("/{asset_id}/state", response=with_errors(RuntimeStateOut), summary="Observed runtime state")
def get_state(request: HttpRequest, asset_id: str = AssetId) -> dict[str, Any]:
    require(request, "view")
    return _state_out(_asset(asset_id))


def _action(request: HttpRequest, asset_id: str, service: str) -> dict[str, Any]:
    import runtimes.lifecycle as lifecycle

    who = require(request, "operate")
    asset = _asset(asset_id)
    getattr(lifecycle, service)(asset, actor=who.actor())
    return _state_out(asset)


@router.post(
    "/{asset_id}/wake",
    response=with_errors(RuntimeStateOut),
    summary="Wake (start) the runtime; 409 if illegal",
)
def wake(request: HttpRequest, asset_id: str = AssetId) -> dict[str, Any]:
    return _action(request, asset_id, "do_wake_asset")


@router.post(
    "/{asset_id}/sleep",
    response=with_errors(RuntimeStateOut),
    summary="Put the runtime to sleep; 409 if illegal",
)
def sleep(request: HttpRequest, asset_id: str = AssetId) -> dict[str, Any]:
    return _action(request, asset_id, "do_sleep_asset")


@router.post(
    "/{asset_id}/restart",
    response=with_errors(RuntimeStateOut),
    summary="Restart the runtime; 409 if illegal",
)
def restart(request: HttpRequest, asset_id: str = AssetId) -> dict[str, Any]:
    return _action(request, asset_id, "do_restart_asset")


@router.get(
    "/{asset_id}/events",
    response=with_errors(list[LifecycleEventOut]),
    summary="Lifecycle events, newest first",
)
def events(
    request: HttpRequest, asset_id: str = AssetId, limit: int = Query(50, ge=1, le=500)
) -> list[dict[str, Any]]:
    from runtimes.models import LifecycleEvent

    require(request, "view")
    asset = _asset(asset_id)
    rows = LifecycleEvent.objects.filter(asset=asset).order_by("-at", "-id")[:limit]
    return [
        {
            "at": e.at,
            "from_state": e.from_state,
            "to_state": e.to_state,
            "reason": e.reason,
            "actor": e.actor_label,
            "source": e.source,
            "load_duration_ms": e.load_duration_ms,
            "detail": e.detail,
        }
        for e in rows
    ]


@router.get(
    "/{asset_id}/usage", response=with_errors(UsageStatsOut), summary="Usage totals over the last minutes"
)
def usage_stats(
    request: HttpRequest, asset_id: str = AssetId, minutes: int = Query(60, ge=1, le=60 * 24 * 90)
) -> Any:
    from runtimes.metrics import usage_summary

    require(request, "view")
    asset = _asset(asset_id)
    return usage_summary(asset.asset_id, datetime.now(UTC) - timedelta(minutes=minutes))


# Gateway endpoints (scope ``gateway``).


def _gateway_caller(request: HttpRequest) -> Caller:
    who = caller(request)
    if who.token is None or not who.token.has_scope("gateway"):
        raise ApiError(403, "permission_denied", "this needs an API token with the 'gateway' scope")
    return who


async def _in_django_thread(fn: Any) -> Any:
    return await sync_to_async(fn)()


@gateway_router.post(
    "/resolve",
    response=with_errors(ResolveOut),
    summary="Where a model runs now; wakes a sleeping one (503 + Retry-After after wait_s)",
)
async def resolve(request: HttpRequest, body: ResolveIn) -> dict[str, Any]:
    # The gateway's own resolver: one cache and one shared poll per waking model. The wait
    # happens on the event loop; each poll is one quick query in Django's thread.
    who = await sync_to_async(_gateway_caller)(request)
    actor = await sync_to_async(who.actor)()
    target, woke = await resolver.resolve(
        body.model, body.interface, db=_in_django_thread, actor=lambda: actor, wait_s=body.wait_s
    )
    return {
        "asset_id": target.asset_id,
        "interface": body.interface,
        "base_url": target.base_url,
        "runtime_kind": target.kind,
        "model": target.model,
        "context_length": target.context_length,
        "max_concurrency": target.max_concurrency,
        "just_started": woke,
    }


def _lease_out(lease: leases.Lease) -> dict[str, Any]:
    return {
        "lease_id": lease.lease_id,
        "asset_id": lease.asset_id,
        "expires_at": datetime.fromtimestamp(lease.expires_at, UTC),
    }


@gateway_router.post(
    "/leases",
    response=with_errors(LeaseOut, 201),
    summary="Take a concurrency slot, owned by the calling token (429 + Retry-After when full)",
)
def acquire_lease(request: HttpRequest, body: LeaseIn) -> Status[dict[str, Any]]:
    who = _gateway_caller(request)
    limits = resolver.limits(body.asset_id)
    limit = limits.max_concurrency if limits else None
    got = do_acquire_lease(body.asset_id, limit or 2**31 - 1, body.ttl_s, actor=who.actor())
    if isinstance(got, leases.LeaseRefused):
        raise RuntimeBusy(
            f"model {body.asset_id!r} has all {limit} slots leased", retry_after=got.retry_after
        )
    return Status(201, _lease_out(got))


def _not_yours(lease_id: str) -> ApiError:
    return ApiError(403, "permission_denied", f"lease {lease_id!r} was taken by another token")


@gateway_router.post(
    "/leases/{lease_id}/renew",
    response=with_errors(LeaseOut),
    summary="Extend a live lease (its owner only: 403 for another's)",
)
def renew_lease(request: HttpRequest, body: LeaseRenewIn, lease_id: str = LeaseId) -> dict[str, Any]:
    who = _gateway_caller(request)
    try:
        renewed = do_renew_lease(lease_id, body.ttl_s, actor=who.actor())
    except leases.NotLeaseOwner:
        raise _not_yours(lease_id) from None
    if renewed is None:
        raise ApiError(404, "lease_not_found", f"lease {lease_id!r} expired or was released")
    return _lease_out(renewed)


@gateway_router.delete(
    "/leases/{lease_id}",
    response=with_errors(None, 204),
    summary="Release a lease (idempotent; its owner only: 403 for another's)",
)
def release_lease(request: HttpRequest, lease_id: str = LeaseId) -> Status[None]:
    who = _gateway_caller(request)
    try:
        do_release_lease(lease_id, actor=who.actor())
    except leases.NotLeaseOwner:
        raise _not_yours(lease_id) from None
    return Status(204, None)


def _check_usage_targets(events: list[UsageEventIn]) -> None:
    """Refuse (422, naming the field) an event for an asset that does not exist, or on an
    interface it does not implement: nothing else may reach the stream (and the metrics)."""
    implemented = dict(
        Asset.objects.filter(asset_id__in={e.asset_id for e in events}).values_list("asset_id", "interfaces")
    )
    for i, event in enumerate(events):
        interfaces = implemented.get(event.asset_id)
        if interfaces is None:
            field = f"events.{i}.asset_id"
            raise ApiError(422, "unknown_asset", f"{field}: no asset {event.asset_id!r}", field=field)
        if event.interface not in interfaces:
            field = f"events.{i}.interface"
            message = (
                f"{field}: {event.asset_id!r} implements {', '.join(interfaces)}, not {event.interface!r}"
            )
            raise ApiError(422, "interface_not_implemented", message, field=field)


@gateway_router.post(
    "/usage",
    response=with_errors(AcceptedOut, 202),
    summary="Report usage events of existing assets (onto a Redis stream; all or none)",
)
def report_usage(request: HttpRequest, body: UsageIn) -> Status[dict[str, int]]:
    _gateway_caller(request)
    _check_usage_targets(body.events)
    with usage_client().pipeline(transaction=False) as pipe:
        publish(pipe, [UsageEvent(**item.dict()) for item in body.events])
        pipe.execute()
    return Status(202, {"accepted": len(body.events)})
