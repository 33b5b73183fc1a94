"""API router: an asset's runtime state, lifecycle actions (wake, sleep, restart), its lifecycle
events and usage statistics. Handlers parse, authorize, call one lifecycle action.

State is never written directly: ``POST /assets/{id}/wake|sleep|restart`` ask the
lifecycle, which answers 409 for an illegal transition.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router
from ninja.params.functions import Path, Query

from api.auth import require
from api.runtime_schemas import LifecycleEventOut, RuntimeStateOut, with_errors
from models_admin.asset_ids import ASSET_ID_MAX, ASSET_ID_SCHEMA_PATTERN
from models_admin.models import Asset
from runtimes import leases
from runtimes.lifecycle import do_restart_asset, do_sleep_asset, do_wake_asset
from runtimes.lifecycle.transitions import state_of
from runtimes.metrics.series import UsageSummary, usage_summary
from runtimes.models import LifecycleEvent

router = Router(tags=["lifecycle"])

AssetId = Path(..., min_length=1, max_length=ASSET_ID_MAX, pattern=ASSET_ID_SCHEMA_PATTERN)
STATE = with_errors(RuntimeStateOut)


def _asset(asset_id: str) -> Asset:
    return get_object_or_404(Asset, asset_id=asset_id)


def _state_out(asset: Asset) -> dict[str, Any]:
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


@router.get("/{asset_id}/state", response=STATE, summary="Observed runtime state")
def get_state(request: HttpRequest, asset_id: str = AssetId) -> dict[str, Any]:
    require(request, "view")
    return _state_out(_asset(asset_id))


def _operate(request: HttpRequest, asset_id: str, action: Callable[..., Any]) -> dict[str, Any]:
    """Authorize ``operate``, run one lifecycle action on the asset, answer its state."""
    who = require(request, "operate")
    asset = _asset(asset_id)
    action(asset, actor=who.actor())
    return _state_out(asset)


@router.post("/{asset_id}/wake", response=STATE, summary="Wake (start) the runtime; 409 if illegal")
def wake(request: HttpRequest, asset_id: str = AssetId) -> dict[str, Any]:
    return _operate(request, asset_id, do_wake_asset)


@router.post("/{asset_id}/sleep", response=STATE, summary="Put the runtime to sleep; 409 if illegal")
def sleep(request: HttpRequest, asset_id: str = AssetId) -> dict[str, Any]:
    return _operate(request, asset_id, do_sleep_asset)


@router.post("/{asset_id}/restart", response=STATE, summary="Restart the runtime; 409 if illegal")
def restart(request: HttpRequest, asset_id: str = AssetId) -> dict[str, Any]:
    return _operate(request, asset_id, do_restart_asset)


@router.get(
    "/{asset_id}/events",
    response=with_errors(list[LifecycleEventOut]),
    summary="Lifecycle events, newest first",
)
def events(
    request: HttpRequest, asset_id: str = AssetId, limit: int = Query(50, ge=1, le=500)
) -> list[dict[str, Any]]:
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
    "/{asset_id}/usage", response=with_errors(UsageSummary), summary="Usage totals over the last minutes"
)
def usage_stats(
    request: HttpRequest, asset_id: str = AssetId, minutes: int = Query(60, ge=1, le=60 * 24 * 90)
) -> Any:
    require(request, "view")
    asset = _asset(asset_id)
    return usage_summary(asset.asset_id, datetime.now(UTC) - timedelta(minutes=minutes))
