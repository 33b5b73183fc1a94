"""Governance: revisions with four-eyes approval, retirement, and how refusals are handled.

Every function here is a ``do_<verb>_<noun>(…, *, actor)`` service: it authorizes the actor
(:mod:`models_admin.roles`), changes rows with compare-and-set updates, and writes one audit
row in the same transaction. A refused authorization raises :class:`PermissionRefused` and
leaves an ``authz.refused`` audit row that survives the rollback of the refused change.

Domain errors (the API maps each once): :class:`PermissionRefused` → 403,
:class:`FourEyesViolation` (a PermissionRefused) → 403, :class:`InvalidTransition` → 409,
:class:`ContentChanged` (an InvalidTransition) → 409, :class:`InvalidInput` (field errors) → 422.

Integrity rules kept here: a submitted revision's content never changes (editing after a
withdrawal or rejection makes a new revision); an approval names the digest of the content
it approves (:func:`models_admin.models.document_digest`); only admins may add or change
``runtime.launch`` (:func:`check_launch_change`).
"""

from __future__ import annotations

import contextvars
import functools
import hmac
import logging
import re
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
    SHORT_DIGEST,
    Asset,
    AssetRevision,
    RevisionStatus,
)
from models_admin.roles import actor_may, has_permission
from models_admin.validation import (
    AssetValidationError,
    FieldError,
    document_interfaces,
    validate_asset_document,
)
from runtimes.lifecycle.actions import request_stop

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# from-status -> {verb: to-status}; anything else is an InvalidTransition. Only a draft may be
# edited (in place); a submitted revision's content is final: withdrawing it ends it, and the
# next edit makes a new revision.
TRANSITIONS: dict[str, dict[str, str]] = {
    RevisionStatus.DRAFT: {"edit": RevisionStatus.DRAFT, "submit": RevisionStatus.SUBMITTED},
    RevisionStatus.SUBMITTED: {
        "approve": RevisionStatus.APPROVED,
        "reject": RevisionStatus.REJECTED,
        "withdraw": RevisionStatus.WITHDRAWN,
    },
    RevisionStatus.APPROVED: {},
    RevisionStatus.REJECTED: {},
    RevisionStatus.WITHDRAWN: {},
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


class ContentChanged(InvalidTransition):
    """An approval named other content than the revision holds (→ 409). Recorded in the audit
    log as ``revision.approve_refused`` (with both digests), a row that survives the rollback."""

    def __init__(self, actor: Actor, object_id: str, named: str, holds: str) -> None:
        self.actor = actor
        self.object_id = object_id
        # Shown and audited as given only when it looks like a digest (never arbitrary text).
        self.named = named if re.fullmatch(r"[0-9a-f]{0,64}", named) else "(malformed)"
        self.holds = holds
        self.recorded = False
        super().__init__(
            f"revision {object_id}: content changed since review (you approved digest "
            f"{self.named[:SHORT_DIGEST] or 'none'}, it holds {holds[:SHORT_DIGEST]}); review it again"
        )


class InvalidInput(GovernanceError):
    """Bad input, as field errors (→ 422), e.g. ``comment: required to reject``."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


# How many governed services are running in this context: only the outermost records a
# refusal, after its transaction has rolled back (an inner one would be rolled back too).
_depth: contextvars.ContextVar[int] = contextvars.ContextVar("governed_depth", default=0)


def _record_refusal(exc: PermissionRefused | ContentChanged) -> None:
    if exc.recorded:
        return
    with transaction.atomic():
        if isinstance(exc, ContentChanged):
            record(
                "revision.approve_refused",
                actor=exc.actor,
                object_type="revision",
                object_id=exc.object_id,
                detail=f"content changed since review: approval named {exc.named or '(none)'}, "
                f"revision holds {exc.holds}",
            )
        else:
            record(
                "authz.refused",
                actor=exc.actor,
                object_type=exc.object_type,
                object_id=exc.object_id,
                detail=f"{exc.action}: {exc.reason}",
            )
    exc.recorded = True
    log.info("refused: %s: %s", exc.actor.label, exc)


def governed(fn: Callable[P, R]) -> Callable[P, R]:
    """``transaction.atomic`` for services, plus: a :class:`PermissionRefused` or
    :class:`ContentChanged` raised inside is recorded after the rollback, so the refusal row
    persists while the change does not.

    (Inside a caller's own ``atomic`` block the refusal row shares that block's fate.)
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        token = _depth.set(_depth.get() + 1)
        try:
            with transaction.atomic():
                return fn(*args, **kwargs)
        except (PermissionRefused, ContentChanged) as exc:
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


# Launching is privileged ------------------------------------------------------------------------


def may_change_launch(actor: Actor) -> bool:
    """May ``actor`` add or change ``runtime.launch`` (a process the hub starts on a worker)?

    Admins by role (through a token too: editing already needs its ``write`` scope), the system
    and the user-less command line.
    """
    return actor.is_trusted_system or has_permission(actor.user, "admin")


def _launch_of(document: dict[str, Any] | None) -> Any:
    runtime = (document or {}).get("runtime")
    return runtime.get("launch") if isinstance(runtime, dict) else None


def check_launch_change(document: dict[str, Any], live: dict[str, Any] | None, *, actor: Actor) -> None:
    """Raise AssetValidationError naming ``runtime.launch`` when ``document`` adds or changes the
    launch block of ``live`` (the live document, None if none) and ``actor`` is not an admin.
    Removing it, or keeping the live one, is anyone's edit."""
    launch = _launch_of(document)
    if launch is None or launch == _launch_of(live) or may_change_launch(actor):
        return
    raise AssetValidationError(
        [FieldError("runtime.launch", "only an admin may add or change it (it starts a process on a worker)")]
    )


# Services -------------------------------------------------------------------------------------


@governed
def do_create_draft(document: Any, *, actor: Actor, asset: Asset | None = None) -> tuple[AssetRevision, bool]:
    """Save ``document`` as the asset's draft: creates the asset (not live) if new, updates the open
    draft in place, or starts a new draft after the newest revision. Returns ``(revision, changed)``;
    a no-op (``changed`` False) when the document equals the current one.

    Only a draft changes in place (compare-and-set on its status); after a withdrawal or a
    rejection the edit is a new revision, whose contributors include the withdrawn one's.
    The live revision is untouched: it keeps serving until a new one is approved.
    Raises AssetValidationError (also ``runtime.launch`` added or changed by a non-admin, see
    :func:`check_launch_change`), PermissionRefused (needs ``edit``), InvalidTransition (the open
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
    check_launch_change(normalized, locked.live_spec if locked is not None else None, actor=actor)
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
    """Ask the lifecycle to stop the asset's runtime once the current transaction commits
    (``runtimes.lifecycle.actions.request_stop`` defers to commit itself)."""
    request_stop(asset_id)
