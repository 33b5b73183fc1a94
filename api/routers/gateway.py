"""API router for gateways (a token with the ``gateway`` scope): resolve, leases, usage.

``resolve`` answers where a model runs now (waking a sleeping one, shared with the gateway's own
resolver); leases are the concurrency slots (owned by the token that took them); usage events
go onto the metrics stream.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from ninja import Router, Status
from ninja.params.functions import Path

from actions.leases import do_acquire_lease, do_release_lease, do_renew_lease
from actions.usage import do_report_usage
from api.auth import api_auth, require_gateway
from api.errors import ApiError
from api.runtime_schemas import (
    AcceptedOut,
    LeaseIn,
    LeaseOut,
    LeaseRenewIn,
    ResolveIn,
    ResolveOut,
    UsageIn,
    with_errors,
)
from runtimes import leases
from runtimes.errors import RuntimeBusy
from runtimes.gateway.resolver import resolver
from runtimes.usage import UsageEvent

router = Router(tags=["gateway"], auth=api_auth)

LeaseId = Path(..., min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


async def _in_django_thread(fn: Any) -> Any:
    return await sync_to_async(fn)()


@router.post(
    "/resolve",
    response=with_errors(ResolveOut),
    summary="Where a model runs now; wakes a sleeping one (503 + Retry-After after wait_s)",
)
async def resolve(request: HttpRequest, body: ResolveIn) -> dict[str, Any]:
    # The gateway's own resolver: one cache and one shared poll per waking model. The wait
    # happens on the event loop; each poll is one quick query in Django's thread. The caller
    # (authenticated before this runs) and its actor are plain objects: no thread hop for them.
    actor = require_gateway(request).actor()
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


@router.post(
    "/leases",
    response=with_errors(LeaseOut, 201),
    summary="Take a concurrency slot, owned by the calling token (429 + Retry-After when full)",
)
def acquire_lease(request: HttpRequest, body: LeaseIn) -> Status[dict[str, Any]]:
    who = require_gateway(request)
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


@router.post(
    "/leases/{lease_id}/renew",
    response=with_errors(LeaseOut),
    summary="Extend a live lease (its owner only: 403 for another's)",
)
def renew_lease(request: HttpRequest, body: LeaseRenewIn, lease_id: str = LeaseId) -> dict[str, Any]:
    who = require_gateway(request)
    try:
        renewed = do_renew_lease(lease_id, body.ttl_s, actor=who.actor())
    except leases.NotLeaseOwner:
        raise _not_yours(lease_id) from None
    if renewed is None:
        raise ApiError(404, "lease_not_found", f"lease {lease_id!r} expired or was released")
    return _lease_out(renewed)


@router.delete(
    "/leases/{lease_id}",
    response=with_errors(None, 204),
    summary="Release a lease (idempotent; its owner only: 403 for another's)",
)
def release_lease(request: HttpRequest, lease_id: str = LeaseId) -> Status[None]:
    who = require_gateway(request)
    try:
        do_release_lease(lease_id, actor=who.actor())
    except leases.NotLeaseOwner:
        raise _not_yours(lease_id) from None
    return Status(204, None)


@router.post(
    "/usage",
    response=with_errors(AcceptedOut, 202),
    summary="Report usage events of existing assets (onto a Redis stream; all or none)",
)
def report_usage(request: HttpRequest, body: UsageIn) -> Status[dict[str, int]]:
    require_gateway(request)
    accepted = do_report_usage([UsageEvent(**item.dict()) for item in body.events])
    return Status(202, {"accepted": accepted})
