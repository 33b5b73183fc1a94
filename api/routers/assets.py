"""API router: assets (list, get, create, update, retire), YAML import, an asset's revisions.

Handlers parse, authorize (the actions check roles and token scopes again, and audit),
and call one action (``actions.assets``, ``actions.revisions``). Creating or updating an asset writes a draft revision;
nothing becomes live until an approver approves it.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Status
from ninja.params.functions import Path, Query

from actions.assets import AssetImportError, do_import_assets, do_retire_asset, plan_import
from actions.revisions import do_create_draft
from api.asset_schemas import (
    AssetOut,
    AssetPage,
    DocumentIn,
    ImportIn,
    ImportOut,
    RevisionOut,
)
from api.auth import require
from api.errors import ApiError
from api.runtime_schemas import with_errors
from models_admin.asset_ids import ASSET_ID_MAX, ASSET_ID_SCHEMA_PATTERN
from models_admin.governance import AssetExists
from models_admin.models import Asset, AssetRevision
from models_admin.yaml_io import DocumentLoadError, parse_documents

router = Router(tags=["assets"])

AssetId = Path(..., min_length=1, max_length=ASSET_ID_MAX, pattern=ASSET_ID_SCHEMA_PATTERN)
NoNul = r"^[^\x00]*$"


def _asset_out(asset: Asset) -> dict[str, Any]:
    return {
        "asset_id": asset.asset_id,
        "display_name": asset.display_name,
        "version": asset.version,
        "interfaces": list(asset.interfaces),
        "live": asset.live_spec is not None,
        "retired_at": asset.retired_at,
        "spec": asset.spec,
        "live_spec": asset.live_spec,
        "created_at": asset.created_at,
        "updated_at": asset.updated_at,
    }


def revision_out(revision: AssetRevision) -> dict[str, Any]:
    def name(user: Any) -> str | None:
        return user.get_username() if user is not None else None

    return {
        "id": revision.pk,
        "asset_id": revision.asset.asset_id,
        "number": revision.number,
        "status": revision.status,
        "document": revision.document,
        "digest": revision.digest,
        "author": name(revision.author),
        "submitted_by": name(revision.submitted_by),
        "submitted_at": revision.submitted_at,
        "decided_by": name(revision.decided_by),
        "decided_at": revision.decided_at,
        "comment": revision.comment,
        "created_at": revision.created_at,
    }


@router.get("", response=with_errors(AssetPage), summary="List assets (filters and pagination)")
def list_assets(
    request: HttpRequest,
    interface: str | None = Query(None, max_length=64, pattern=NoNul),
    q: str | None = Query(None, max_length=200, pattern=NoNul),
    live: bool | None = None,
    retired: bool | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> dict[str, Any]:
    require(request, "view")
    query = Asset.objects.all().order_by("asset_id")
    if interface:
        query = query.filter(interfaces__contains=[interface])
    if q:
        query = query.filter(Q(asset_id__icontains=q) | Q(display_name__icontains=q))
    if live is not None:
        query = query.filter(live_spec__isnull=not live)
    if retired is not None:
        query = query.filter(retired_at__isnull=not retired)
    return {
        "count": query.count(),
        "limit": limit,
        "offset": offset,
        "items": [_asset_out(a) for a in query[offset : offset + limit]],
    }


@router.post(
    "/import",
    response=with_errors(ImportOut),
    summary="Import YAML documents (all or none; dry_run plans only)",
)
def import_assets(request: HttpRequest, body: ImportIn) -> dict[str, Any]:
    who = require(request, "edit")
    try:
        documents = parse_documents(body.yaml, "upload")
        plan = plan_import(documents) if body.dry_run else do_import_assets(documents, actor=who.actor())
    except DocumentLoadError as exc:
        raise ApiError(422, "validation_error", str(exc), field="yaml") from exc
    except AssetImportError as exc:
        _label, first = exc.problems[0]
        raise ApiError(422, "validation_error", str(exc), field=first.path) from exc
    return {
        "dry_run": body.dry_run,
        "items": [
            {
                "asset_id": i.asset_id,
                "action": i.action,
                "source": i.source,
                "changes": [list(c) for c in i.changes],
            }
            for i in plan
        ],
    }


@router.get("/{asset_id}", response=with_errors(AssetOut), summary="One asset")
def get_asset(request: HttpRequest, asset_id: str = AssetId) -> dict[str, Any]:
    require(request, "view")
    return _asset_out(get_object_or_404(Asset, asset_id=asset_id))


@router.post("", response=with_errors(RevisionOut, 201), summary="Create an asset (as a draft revision)")
def create_asset(request: HttpRequest, body: DocumentIn) -> Status[dict[str, Any]]:
    who = require(request, "edit")
    try:
        revision, _ = do_create_draft(body.document, actor=who.actor(), new=True)
    except AssetExists as exc:
        raise ApiError(
            409,
            "already_exists",
            f"asset {exc.asset_id!r} exists; PUT /assets/{exc.asset_id}",
            field="asset_id",
        ) from None
    return Status(201, revision_out(revision))


@router.put("/{asset_id}", response=with_errors(RevisionOut), summary="Update an asset (its draft revision)")
def update_asset(request: HttpRequest, body: DocumentIn, asset_id: str = AssetId) -> dict[str, Any]:
    who = require(request, "edit")
    asset = get_object_or_404(Asset, asset_id=asset_id)
    revision, _ = do_create_draft(body.document, actor=who.actor(), asset=asset)
    return revision_out(revision)


@router.post(
    "/{asset_id}/retire", response=with_errors(AssetOut), summary="Retire an asset (never live again)"
)
def retire_asset(request: HttpRequest, asset_id: str = AssetId) -> dict[str, Any]:
    who = require(request, "approve")
    asset = get_object_or_404(Asset, asset_id=asset_id)
    do_retire_asset(asset, actor=who.actor())
    asset.refresh_from_db()
    return _asset_out(asset)


@router.get(
    "/{asset_id}/revisions",
    response=with_errors(list[RevisionOut]),
    summary="An asset's revisions, newest first",
)
def asset_revisions(request: HttpRequest, asset_id: str = AssetId) -> list[dict[str, Any]]:
    require(request, "view")
    asset = get_object_or_404(Asset, asset_id=asset_id)
    rows = AssetRevision.objects.filter(asset=asset).select_related(
        "asset", "author", "submitted_by", "decided_by"
    )
    return [revision_out(r) for r in rows.order_by("-number")]
