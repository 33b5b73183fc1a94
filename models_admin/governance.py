"""Governance: revisions with four-eyes approval, retirement, and how refusals are handled.

Every function here is a ``do_<verb>_<noun>(…, *, actor)`` service: it authorizes the actor
(:mod:`models_admin.roles`), changes rows with compare-and-set updates, and writes one audit
row in the same transaction. A refused authorization raises :class:`PermissionRefused` and
leaves an ``authz.refused`` audit row that survives the rollback of the refused change.

Domain errors (the API maps each once): :class:`PermissionRefused` → 403,
:class:`FourEyesViolation` (a PermissionRefused) → 403, :class:`InvalidTransition` → 409,
:class:`InvalidInput` (field errors) → 422.
"""

from __future__ import annotations

import contextvars
import functools
import logging
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from hub.env import env_bool
from models_admin.audit import Actor, record
from models_admin.models import (
    OPEN_STATUSES,
    Asset,
    AssetRevision,
    RevisionStatus,
)
from models_admin.roles import actor_may
from models_admin.validation import (
    AssetValidationError,
    FieldError,
    document_interfaces,
    validate_asset_document,
)

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# from-status -> {verb: to-status}; anything else is an InvalidTransition.
TRANSITIONS: dict[str, dict[str, str]] = {
    RevisionStatus.DRAFT: {"edit": RevisionStatus.DRAFT, "submit": RevisionStatus.SUBMITTED},
    RevisionStatus.SUBMITTED: {
        "approve": RevisionStatus.APPROVED,
        "reject": RevisionStatus.REJECTED,
        "withdraw": RevisionStatus.DRAFT,
    },
    RevisionStatus.APPROVED: {},
    RevisionStatus.REJECTED: {},
}


class GovernanceError(Exception):
    """Base of the governance domain errors."""


class PermissionRefused(GovernanceError):
    """The actor may not do this (→ 403). Recorded in the audit log as ``authz.refused``."""

    def __init__(self, actor: Actor, action: str, object_type: str, object_id: str, reason: str) -> None:
        self.actor = actor
        self.action = action
        self.object_type = object_type
        self.object_id = object_id
        self.reason = reason
        self.recorded = False
        super().__init__(reason)


class FourEyesViolation(PermissionRefused):
    """The approver wrote or submitted the revision (→ 403)."""


class InvalidTransition(GovernanceError):
    """The revision or asset is not in a state that allows this, or the race was lost (→ 409)."""


class InvalidInput(GovernanceError):
    """Bad input, as field errors (→ 422), e.g. ``comment: required to reject``."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


# How many governed services are running in this context: only the outermost records a
# refusal, after its transaction has rolled back (an inner one would be rolled back too).
_depth: contextvars.ContextVar[int] = contextvars.ContextVar("governed_depth", default=0)


def _record_refusal(exc: PermissionRefused) -> None:
    if exc.recorded:
        return
    with transaction.atomic():
        record(
            "authz.refused",
            actor=exc.actor,
            object_type=exc.object_type,
            object_id=exc.object_id,
            detail=f"{exc.action}: {exc.reason}",
        )
    exc.recorded = True
    log.info(
        "authorization refused: %s %s %s:%s", exc.actor.label, exc.action, exc.object_type, exc.object_id
    )


def governed(fn: Callable[P, R]) -> Callable[P, R]:
    """``transaction.atomic`` for services, plus: a :class:`PermissionRefused` raised inside is
    recorded after the rollback, so the refusal row persists while the change does not.

    (Inside a caller's own ``atomic`` block the refusal row shares that block's fate.)
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        token = _depth.set(_depth.get() + 1)
        try:
            with transaction.atomic():
                return fn(*args, **kwargs)
        except PermissionRefused as exc:
            if _depth.get() == 1:
                _record_refusal(exc)
            raise
        finally:
            _depth.reset(token)

    return wrapper


def refuse_unless(actor: Actor, action: str, *, object_type: str, object_id: str) -> None:
    """Raise :class:`PermissionRefused` unless ``actor`` may do ``action`` (see ``roles.actor_may``).

    Outside a governed service the refusal is recorded at once.
    """
    if actor_may(actor, action):
        return
    reason = f"{actor.label} may not {action}"
    if actor.token is not None and actor.user is not None:
        reason += " (role or token scopes)"
    exc = PermissionRefused(actor, action, object_type, object_id, reason)
    if _depth.get() == 0:
        _record_refusal(exc)
    raise exc


# Four eyes -----------------------------------------------------------------------------------


def self_approval_allowed() -> bool:
    """``HUB_ALLOW_SELF_APPROVAL`` (default off): single-admin installs only; the UI shows a warning."""
    value = getattr(settings, "HUB_ALLOW_SELF_APPROVAL", None)
    if value is None:
        return env_bool("HUB_ALLOW_SELF_APPROVAL", False)
    return bool(value)


def four_eyes_conflict(revision: AssetRevision, user: AbstractBaseUser | AnonymousUser | None) -> str | None:
    """Why ``user`` may not approve ``revision`` under four eyes, or None. Ignores the setting."""
    if user is None or not user.is_authenticated:
        return None
    uid = user.pk
    if revision.submitted_by_id == uid:
        return "you submitted this revision; another approver must decide"
    if revision.author_id == uid or uid in (revision.contributors or []):
        return "you wrote this revision; another approver must decide"
    return None


def can_decide(revision: AssetRevision, user: AbstractBaseUser | AnonymousUser | None) -> bool:
    """For the UI: show approve / reject to ``user``? (role, status, and four eyes unless disabled)."""
    from models_admin.roles import has_permission

    if revision.status != RevisionStatus.SUBMITTED or not has_permission(user, "approve"):
        return False
    return self_approval_allowed() or four_eyes_conflict(revision, user) is None


# Reads -----------------------------------------------------------------------------------------


def live_revision(asset: Asset) -> AssetRevision | None:
    """The newest approved revision (None if none, or the asset is retired)."""
    if asset.retired_at is not None:
        return None
    return asset.revisions.filter(status=RevisionStatus.APPROVED).order_by("-number").first()


def open_revision(asset: Asset) -> AssetRevision | None:
    """The asset's draft or submitted revision, if any (there is at most one)."""
    return asset.revisions.filter(status__in=OPEN_STATUSES).first()


def approval_queue() -> list[AssetRevision]:
    """Submitted revisions, oldest submission first."""
    return list(
        AssetRevision.objects.filter(status=RevisionStatus.SUBMITTED)
        .select_related("asset", "author", "submitted_by")
        .order_by("submitted_at", "id")
    )


# Helpers ---------------------------------------------------------------------------------------


def _sync_columns(asset: Asset) -> None:
    """``spec`` and its columns follow the open revision, else the live one, else the newest."""
    current = open_revision(asset) or live_revision(asset) or asset.revisions.order_by("-number").first()
    if current is None:
        return
    doc = current.document
    asset.spec = doc
    asset.display_name = doc["display_name"]
    asset.version = doc["version"]
    asset.interfaces = document_interfaces(doc)


def _lock_asset(asset: Asset) -> Asset:
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


# Services -------------------------------------------------------------------------------------


@governed
def do_create_draft(document: Any, *, actor: Actor, asset: Asset | None = None) -> tuple[AssetRevision, bool]:
    """Save ``document`` as the asset's draft: creates the asset (not live) if new, updates the open
    draft in place, or starts a new draft after the newest revision. Returns ``(revision, changed)``;
    a no-op (``changed`` False) when the document equals the current one.

    The live revision is untouched: it keeps serving until a new one is approved.
    Raises AssetValidationError, PermissionRefused (needs ``edit``), InvalidTransition (the open
    revision is submitted — withdraw it first —, or the asset is retired).
    """
    raw_id = document.get("asset_id") if isinstance(document, dict) else None
    target = asset.asset_id if asset is not None else str(raw_id or "")
    refuse_unless(actor, "edit", object_type="asset", object_id=target[:200])
    normalized = validate_asset_document(document)
    asset_id = normalized["asset_id"]
    if asset is not None and asset.asset_id != asset_id:
        raise AssetValidationError([FieldError("asset_id", "cannot be changed once created")])
    locked = Asset.objects.select_for_update().filter(asset_id=asset_id).first()
    if locked is None:
        locked = Asset.objects.create(
            asset_id=asset_id,
            display_name=normalized["display_name"],
            version=normalized["version"],
            interfaces=document_interfaces(normalized),
            spec=normalized,
            live_spec=None,
        )
        revision = AssetRevision.objects.create(
            asset=locked,
            number=1,
            document=normalized,
            author=actor.db_user,
            contributors=[actor.user_id] if actor.user_id else [],
        )
        record("asset.create", actor=actor, object_type="asset", object_id=asset_id, after=normalized)
        return revision, True
    _check_not_retired(locked, "edit")
    current = open_revision(locked)
    if current is not None and current.status == RevisionStatus.SUBMITTED:
        raise InvalidTransition(
            f"revision {current.number} of {asset_id} is awaiting approval; withdraw it before editing"
        )
    if current is not None:
        if current.document == normalized:
            return current, False
        before = current.document
        current.document = normalized
        if actor.user_id and actor.user_id not in current.contributors:
            current.contributors = [*current.contributors, actor.user_id]
        current.save(update_fields=["document", "contributors", "updated_at"])
        revision = current
    else:
        newest = locked.revisions.order_by("-number").first()
        if newest is not None and newest.document == normalized and newest.status == RevisionStatus.APPROVED:
            return newest, False
        before = locked.spec
        number = (locked.revisions.aggregate(n=Max("number"))["n"] or 0) + 1
        revision = AssetRevision.objects.create(
            asset=locked,
            number=number,
            document=normalized,
            author=actor.db_user,
            contributors=[actor.user_id] if actor.user_id else [],
        )
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
    """Submitted → draft (out of the queue; editable again). Needs ``edit``. Raises InvalidTransition."""
    refuse_unless(actor, "edit", object_type="revision", object_id=_rev_id(revision))
    revision = _lock_revision(revision)
    revision = _transition(revision, "withdraw", submitted_by=None, submitted_at=None)
    record("revision.withdraw", actor=actor, object_type="revision", object_id=_rev_id(revision))
    return revision


@governed
def do_approve_revision(
    revision: AssetRevision, *, actor: Actor, comment: str = "", _bootstrap: bool = False
) -> AssetRevision:
    """Submitted → approved; the revision becomes live (``Asset.live_spec``). Final.

    Needs ``approve``, and four eyes: the approver may be neither the submitter nor an author
    (unless ``HUB_ALLOW_SELF_APPROVAL``). Raises PermissionRefused, FourEyesViolation,
    InvalidTransition (not submitted, lost a race, or the asset is retired).
    """
    object_id = _rev_id(revision)
    refuse_unless(actor, "approve", object_type="revision", object_id=object_id)
    revision = _lock_revision(revision)
    asset = _lock_asset(revision.asset)
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
        detail=detail,
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
    asset = _lock_asset(revision.asset)
    revision = _transition(
        revision, "reject", decided_by=actor.db_user, decided_at=timezone.now(), comment=comment.strip()
    )
    _sync_columns(asset)
    asset.save()
    record(
        "revision.reject", actor=actor, object_type="revision", object_id=object_id, detail=comment.strip()
    )
    return revision


@governed
def do_retire_asset(asset: Asset, *, actor: Actor) -> bool:
    """Retire: never live again (``live_spec`` cleared), its runtime is asked to stop after commit,
    its history stays. Needs ``approve``. Idempotent: False when already retired."""
    refuse_unless(actor, "approve", object_type="asset", object_id=asset.asset_id)
    locked = _lock_asset(asset)
    if locked.retired_at is not None:
        return False
    before = locked.live_spec
    locked.retired_at = timezone.now()
    locked.live_spec = None
    locked.save()
    record(
        "asset.retire",
        actor=actor,
        object_type="asset",
        object_id=locked.asset_id,
        before=before,
        after={"retired_at": locked.retired_at.isoformat()},
    )
    asset.retired_at, asset.live_spec = locked.retired_at, None
    request_runtime_stop(locked.asset_id)
    return True


def request_runtime_stop(asset_id: str) -> None:
    """Ask the lifecycle to stop the asset's runtime once the current transaction commits.

    ``runtimes.lifecycle.request_stop`` defers to commit itself; imported here, lazily, because
    the lifecycle imports the catalog models.
    """
    from runtimes.lifecycle import request_stop

    request_stop(asset_id)
