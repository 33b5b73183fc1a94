"""Governance rules: the revision state machine, four eyes, launch privilege, and how a refusal
is raised and audited. The actions that change revisions and assets (``actions/``) apply them.

Every action is ``@governed``: it authorizes the actor with :func:`refuse_unless`, changes rows
with compare-and-set updates, and writes one audit row in the same transaction. A refused
authorization raises :class:`PermissionRefused` and leaves an ``authz.refused`` audit row that
survives the rollback of the refused change.

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
import logging
import re
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction

from models_admin.audit import Actor, record
from models_admin.models import (
    OPEN_STATUSES,
    SHORT_DIGEST,
    Asset,
    AssetRevision,
    RevisionStatus,
)
from models_admin.roles import actor_may, has_permission
from models_admin.validation import AssetValidationError, FieldError

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


class AssetExists(InvalidTransition):
    """Creating an asset whose id is taken: never silently an edit of someone else's asset (→ 409)."""

    def __init__(self, asset_id: str) -> None:
        self.asset_id = asset_id
        super().__init__(f"asset {asset_id!r} already exists; edit it instead")


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
    return bool(settings.HUB_ALLOW_SELF_APPROVAL)


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
