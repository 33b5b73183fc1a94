"""Revision actions: save a draft, submit, withdraw, approve, reject.

Each is one ``@governed`` ``do_<verb>_revision(…, *, actor)``: it checks the actor
(:func:`models_admin.governance.refuse_unless`), moves the revision by
:data:`models_admin.governance.TRANSITIONS` with compare-and-set updates, and writes its audit
row in the same transaction.
"""

from __future__ import annotations

import hmac
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from models_admin.audit import Actor, record
from models_admin.documents import document_interfaces
from models_admin.governance import (
    TRANSITIONS,
    AssetExists,
    ContentChanged,
    FourEyesViolation,
    InvalidInput,
    InvalidTransition,
    check_launch_change,
    four_eyes_conflict,
    governed,
    live_revision,
    open_revision,
    refuse_unless,
    self_approval_allowed,
)
from models_admin.models import Asset, AssetRevision, RevisionStatus
from models_admin.validation import AssetValidationError, FieldError, validate_asset_document

# Row helpers ---------------------------------------------------------------------------------------


def _sync_columns(asset: Asset) -> None:
    """``spec`` and its columns follow the open revision, else a just-withdrawn one (the next edit
    starts from it), else the live one, else the newest."""
    newest = asset.revisions.order_by("-number").first()
    withdrawn = newest if newest is not None and newest.status == RevisionStatus.WITHDRAWN else None
    current = open_revision(asset) or withdrawn or live_revision(asset) or newest
    if current is None:
        return
    doc = current.document
    asset.spec = doc
    asset.display_name = doc["display_name"]
    asset.version = doc["version"]
    asset.interfaces = document_interfaces(doc)


def lock_asset(asset: Asset) -> Asset:
    return Asset.objects.select_for_update().get(pk=asset.pk)


def _lock_revision(revision: AssetRevision) -> AssetRevision:
    return AssetRevision.objects.select_for_update().select_related("asset").get(pk=revision.pk)


def _require(revision: AssetRevision, verb: str) -> str:
    """The status ``verb`` leads to from the revision's status; raises InvalidTransition."""
    target = TRANSITIONS.get(revision.status, {}).get(verb)
    if target is None:
        raise InvalidTransition(
            f"revision {revision.number} of {revision.asset.asset_id} is {revision.status}; cannot {verb}"
        )
    return target


def _transition(revision: AssetRevision, verb: str, **changes: Any) -> AssetRevision:
    """Compare-and-set ``revision`` from its current status by ``verb``; raises InvalidTransition."""
    target = _require(revision, verb)
    updated = AssetRevision.objects.filter(pk=revision.pk, status=revision.status).update(
        status=target, updated_at=timezone.now(), **changes
    )
    if updated != 1:
        raise InvalidTransition(f"revision {revision.number} changed meanwhile; reload and retry")
    revision.refresh_from_db()
    return revision


def _check_not_retired(asset: Asset, verb: str) -> None:
    if asset.retired_at is not None:
        raise InvalidTransition(f"{asset.asset_id} is retired; cannot {verb}")


def _rev_id(revision: AssetRevision) -> str:
    return f"{revision.asset.asset_id}#{revision.number}"


@governed
def do_create_draft(
    document: Any, *, actor: Actor, asset: Asset | None = None, new: bool = False
) -> tuple[AssetRevision, bool]:
    """Save ``document`` as the asset's draft: creates the asset (not live) if new, updates the open
    draft in place, or starts a new draft after the newest revision. Returns ``(revision, changed)``;
    a no-op (``changed`` False) when the document equals the current one.

    Only a draft changes in place (compare-and-set on its status); after a withdrawal or a
    rejection the edit is a new revision, whose contributors include the withdrawn one's.
    The live revision is untouched: it keeps serving until a new one is approved.
    Raises AssetValidationError (also ``runtime.launch`` added or changed by a non-admin, see
    :func:`check_launch_change`), PermissionRefused (needs ``edit``), InvalidTransition (the open
    revision is submitted — withdraw it first —, or the asset is retired), AssetExists (``new``:
    the caller creates, and the id is taken, also by a create that raced this one).
    """
    raw_id = document.get("asset_id") if isinstance(document, dict) else None
    target = asset.asset_id if asset is not None else str(raw_id or "")
    refuse_unless(actor, "edit", object_type="asset", object_id=target[:200])
    normalized = validate_asset_document(document)
    asset_id = normalized["asset_id"]
    if asset is not None and asset.asset_id != asset_id:
        raise AssetValidationError([FieldError("asset_id", "cannot be changed once created")])
    locked = Asset.objects.select_for_update().filter(asset_id=asset_id).first()
    if new and locked is not None:
        raise AssetExists(asset_id)
    check_launch_change(normalized, locked.live_spec if locked is not None else None, actor=actor)
    if locked is None:
        try:
            with transaction.atomic():  # a savepoint: a create racing ours must not break the transaction
                locked = Asset.objects.create(
                    asset_id=asset_id,
                    display_name=normalized["display_name"],
                    version=normalized["version"],
                    interfaces=document_interfaces(normalized),
                    spec=normalized,
                    live_spec=None,
                )
        except IntegrityError:
            raise AssetExists(asset_id) from None
        revision = AssetRevision.objects.create(
            asset=locked,
            number=1,
            document=normalized,
            author=actor.db_user,
            contributors=[actor.user_id] if actor.user_id else [],
        )
        revision.refresh_from_db()  # the document as stored: what its digest is computed from
        record("asset.create", actor=actor, object_type="asset", object_id=asset_id, after=normalized)
        return revision, True
    _check_not_retired(locked, "edit")
    current = open_revision(locked)
    if current is not None and current.status == RevisionStatus.SUBMITTED:
        raise InvalidTransition(
            f"revision {current.number} of {asset_id} is awaiting approval; withdraw it before editing"
        )
    if current is not None:  # a draft, never submitted: edited in place, while it still is one
        if current.document == normalized:
            return current, False
        before = current.document
        contributors = list(current.contributors)
        if actor.user_id and actor.user_id not in contributors:
            contributors.append(actor.user_id)
        target = _require(current, "edit")
        edited = AssetRevision.objects.filter(pk=current.pk, status=current.status).update(
            status=target, document=normalized, contributors=contributors, updated_at=timezone.now()
        )
        if edited != 1:
            raise InvalidTransition(
                f"revision {current.number} of {asset_id} was submitted meanwhile; reload"
            )
        revision = current
    else:
        newest = locked.revisions.order_by("-number").first()
        if newest is not None and newest.document == normalized and newest.status == RevisionStatus.APPROVED:
            return newest, False
        before = locked.spec
        number = (locked.revisions.aggregate(n=Max("number"))["n"] or 0) + 1
        contributors = [actor.user_id] if actor.user_id else []
        if newest is not None and newest.status == RevisionStatus.WITHDRAWN:
            # The withdrawn revision's writers wrote this one too: four eyes still applies to them.
            contributors = list(dict.fromkeys([*newest.contributors, *contributors]))
        revision = AssetRevision.objects.create(
            asset=locked, number=number, document=normalized, author=actor.db_user, contributors=contributors
        )
    revision.refresh_from_db()  # the document as stored: what its digest is computed from
    _sync_columns(locked)
    locked.save()
    record(
        "asset.edit",
        actor=actor,
        object_type="asset",
        object_id=asset_id,
        before=before,
        after=normalized,
        detail=f"draft revision {revision.number}",
    )
    return revision, True


@governed
def do_submit_revision(revision: AssetRevision, *, actor: Actor) -> AssetRevision:
    """Draft → submitted (into the approvals queue). Needs ``edit``. Raises InvalidTransition."""
    refuse_unless(actor, "edit", object_type="revision", object_id=_rev_id(revision))
    revision = _lock_revision(revision)
    _check_not_retired(revision.asset, "submit")
    revision = _transition(revision, "submit", submitted_by=actor.db_user, submitted_at=timezone.now())
    record("revision.submit", actor=actor, object_type="revision", object_id=_rev_id(revision))
    return revision


@governed
def do_withdraw_revision(revision: AssetRevision, *, actor: Actor) -> AssetRevision:
    """Submitted → withdrawn (out of the queue; final: its content never changes, the next edit
    is a new revision). Needs ``edit``. Raises InvalidTransition."""
    refuse_unless(actor, "edit", object_type="revision", object_id=_rev_id(revision))
    revision = _lock_revision(revision)
    revision = _transition(revision, "withdraw")
    record("revision.withdraw", actor=actor, object_type="revision", object_id=_rev_id(revision))
    return revision


@governed
def do_approve_revision(
    revision: AssetRevision, *, actor: Actor, digest: str, comment: str = "", _bootstrap: bool = False
) -> AssetRevision:
    """Submitted → approved; the revision becomes live (``Asset.live_spec``). Final.

    ``digest`` names the content approved (``AssetRevision.digest``, as shown to the approver):
    anything else is refused with :class:`ContentChanged`, audited ``revision.approve_refused``.
    Needs ``approve``, and four eyes: the approver may be neither the submitter nor an author
    (unless ``HUB_ALLOW_SELF_APPROVAL``). Raises PermissionRefused, FourEyesViolation,
    ContentChanged, InvalidTransition (not submitted, lost a race, or the asset is retired).
    """
    object_id = _rev_id(revision)
    refuse_unless(actor, "approve", object_type="revision", object_id=object_id)
    revision = _lock_revision(revision)
    asset = lock_asset(revision.asset)
    _check_not_retired(asset, "approve")
    _require(revision, "approve")
    detail = ""
    conflict = four_eyes_conflict(revision, actor.user)
    if conflict is not None:
        if _bootstrap:
            detail = "import --approved: four eyes bypassed for bootstrapping"
        elif self_approval_allowed():
            detail = "four eyes bypassed: HUB_ALLOW_SELF_APPROVAL is on"
        else:
            raise FourEyesViolation(actor, "approve", "revision", object_id, conflict)
    holds = revision.digest
    if not hmac.compare_digest((digest or "").encode("utf-8", "replace"), holds.encode()):
        raise ContentChanged(actor, object_id, digest or "", holds)
    before = asset.live_spec
    revision = _transition(
        revision, "approve", decided_by=actor.db_user, decided_at=timezone.now(), comment=comment.strip()
    )
    asset.live_spec = revision.document
    _sync_columns(asset)
    asset.save()
    record(
        "revision.approve",
        actor=actor,
        object_type="revision",
        object_id=object_id,
        before=before,
        after=revision.document,
        detail="; ".join(part for part in (f"content {holds}", detail) if part),
    )
    return revision


@governed
def do_reject_revision(revision: AssetRevision, *, actor: Actor, comment: str) -> AssetRevision:
    """Submitted → rejected (final); the live revision is unchanged. Needs ``approve`` and a comment.

    Raises InvalidInput (``comment: required to reject``), PermissionRefused, InvalidTransition.
    """
    object_id = _rev_id(revision)
    refuse_unless(actor, "approve", object_type="revision", object_id=object_id)
    if not (comment or "").strip():
        raise InvalidInput([FieldError("comment", "required to reject")])
    revision = _lock_revision(revision)
    asset = lock_asset(revision.asset)
    revision = _transition(
        revision, "reject", decided_by=actor.db_user, decided_at=timezone.now(), comment=comment.strip()
    )
    _sync_columns(asset)
    asset.save()
    record(
        "revision.reject", actor=actor, object_type="revision", object_id=object_id, detail=comment.strip()
    )
    return revision
