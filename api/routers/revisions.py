"""API router: revisions and approvals (the queue, one revision, submit, withdraw, approve, reject).

Handlers parse, authorize, and call one revision action (``actions.revisions``), which checks
roles and token scopes again, applies four eyes and the approved digest, and audits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router
from ninja.params.functions import Path, Query

from actions.revisions import (
    do_approve_revision,
    do_reject_revision,
    do_submit_revision,
    do_withdraw_revision,
)
from api.asset_schemas import ApproveIn, RejectIn, RevisionOut
from api.auth import require
from api.routers.assets import revision_out
from api.runtime_schemas import with_errors
from models_admin.models import AssetRevision, RevisionStatus

router = Router(tags=["revisions"])

RevisionId = Path(..., ge=1, le=2**31 - 1)


@router.get(
    "", response=with_errors(list[RevisionOut]), summary="Revisions by status (default: the approval queue)"
)
def list_revisions(
    request: HttpRequest,
    status: RevisionStatus = RevisionStatus.SUBMITTED,
    limit: int = Query(100, ge=1, le=500),
) -> list[dict[str, Any]]:
    require(request, "view")
    rows = AssetRevision.objects.filter(status=status).select_related(
        "asset", "author", "submitted_by", "decided_by"
    )
    return [revision_out(r) for r in rows.order_by("submitted_at", "id")[:limit]]


@router.get("/{revision_id}", response=with_errors(RevisionOut), summary="One revision")
def get_revision(request: HttpRequest, revision_id: int = RevisionId) -> dict[str, Any]:
    require(request, "view")
    return revision_out(get_object_or_404(AssetRevision.objects.select_related("asset"), pk=revision_id))


# The permission each decision needs (the service checks it again, and audits a refusal).
# Asking for it here, not "view", lets a token scoped for exactly this (``write`` or
# ``approve``) do it, and refuses a caller without it before looking the revision up.
DECISION_ACTION = {"submit": "edit", "withdraw": "edit", "approve": "approve", "reject": "approve"}


def _decide(
    request: HttpRequest, revision_id: int, verb: str, action: Callable[..., Any], **kwargs: Any
) -> dict[str, Any]:
    """Authorize ``verb``, run its revision action, answer the revision as it is now."""
    who = require(request, DECISION_ACTION[verb])
    revision = get_object_or_404(AssetRevision.objects.select_related("asset"), pk=revision_id)
    action(revision, actor=who.actor(), **kwargs)
    revision.refresh_from_db()
    return revision_out(revision)


REVISION = with_errors(RevisionOut)


@router.post("/{revision_id}/submit", response=REVISION, summary="Submit a draft for approval")
def submit(request: HttpRequest, revision_id: int = RevisionId) -> dict[str, Any]:
    return _decide(request, revision_id, "submit", do_submit_revision)


@router.post("/{revision_id}/withdraw", response=REVISION, summary="Withdraw a submitted revision")
def withdraw(request: HttpRequest, revision_id: int = RevisionId) -> dict[str, Any]:
    return _decide(request, revision_id, "withdraw", do_withdraw_revision)


@router.post(
    "/{revision_id}/approve",
    response=REVISION,
    summary="Approve the reviewed content (its digest; four eyes): it goes live",
)
def approve(request: HttpRequest, body: ApproveIn, revision_id: int = RevisionId) -> dict[str, Any]:
    return _decide(
        request, revision_id, "approve", do_approve_revision, digest=body.digest, comment=body.comment
    )


@router.post("/{revision_id}/reject", response=REVISION, summary="Reject with a comment")
def reject(request: HttpRequest, body: RejectIn, revision_id: int = RevisionId) -> dict[str, Any]:
    return _decide(request, revision_id, "reject", do_reject_revision, comment=body.comment)
