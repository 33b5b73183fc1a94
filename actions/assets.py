"""Asset actions: save (as a draft revision), import, retire; and the export they mirror.

Each is atomic and a no-op when nothing changes. Callers (views, API handlers,
commands) parse, then call one of these; the actions authorize the actor themselves.
Saving a document makes a draft revision (``actions.revisions``): nothing is live until a
revision is approved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from actions.revisions import (
    do_approve_revision,
    do_create_draft,
    do_submit_revision,
    do_withdraw_revision,
    lock_asset,
)
from models_admin.audit import Actor, record
from models_admin.documents import canonical, diff_documents
from models_admin.governance import PermissionRefused, governed, open_revision, refuse_unless
from models_admin.models import Asset, AuditSource, RevisionStatus
from models_admin.signals import asset_retired
from models_admin.validation import AssetValidationError, FieldError, validate_asset_document
from models_admin.yaml_io import SourceDocument


class AssetImportError(ValueError):
    """An import was refused; ``problems`` lists ``(document label, field error)``."""

    def __init__(self, problems: list[tuple[str, FieldError]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{label}: {error}" for label, error in problems))


@dataclass
class PlanItem:
    asset_id: str
    action: str  # create | update | unchanged
    source: str
    document: dict[str, Any]
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)


def do_save_asset(doc: dict[str, Any], *, actor: Actor, asset: Asset | None = None) -> tuple[Asset, bool]:
    """Save a raw document as the asset's draft revision; returns ``(asset, changed)``.

    See :func:`actions.revisions.do_create_draft` (which raises AssetValidationError,
    PermissionRefused, InvalidTransition). Renaming an asset (a different ``asset_id`` on an
    existing asset) is refused: ids are stable references for the gateway.
    """
    revision, changed = do_create_draft(doc, actor=actor, asset=asset)
    return Asset.objects.get(pk=revision.asset_id), changed


def plan_import(documents: Sequence[SourceDocument]) -> list[PlanItem]:
    """Validate every document and say what importing them would do; writes nothing.

    Raises :class:`AssetImportError` listing every problem in every document.
    """
    problems: list[tuple[str, FieldError]] = []
    normalized: list[tuple[SourceDocument, dict[str, Any]]] = []
    seen: dict[str, str] = {}
    for doc in documents:
        try:
            clean = validate_asset_document(doc.data)
        except AssetValidationError as exc:
            problems.extend((doc.label, error) for error in exc.errors)
            continue
        first = seen.setdefault(clean["asset_id"], doc.label)
        if first != doc.label:
            problems.append((doc.label, FieldError("asset_id", f"{clean['asset_id']!r} also in {first}")))
        normalized.append((doc, clean))
    if not documents:
        problems.append(("import", FieldError("", "no asset documents found")))
    if problems:
        raise AssetImportError(problems)

    existing = {a.asset_id: a.spec for a in Asset.objects.filter(asset_id__in=list(seen))}
    plan = []
    for doc, clean in normalized:
        old = existing.get(clean["asset_id"])
        if old is None:
            plan.append(PlanItem(clean["asset_id"], "create", doc.label, clean, diff_documents(None, clean)))
        elif old == clean:
            plan.append(PlanItem(clean["asset_id"], "unchanged", doc.label, clean))
        else:
            plan.append(PlanItem(clean["asset_id"], "update", doc.label, clean, diff_documents(old, clean)))
    return plan


@governed
def do_import_assets(
    documents: Sequence[SourceDocument], *, actor: Actor, approved: bool = False
) -> list[PlanItem]:
    """Import all documents or none: one transaction, validated before anything is written.

    Each created or changed asset gets a draft revision by ``actor``, submitted into the
    approvals queue (a revision already awaiting approval is withdrawn and replaced).
    With ``approved`` (bootstrapping: the system itself, or an admin) each is approved at once,
    bypassing four eyes, and one ``import.approved`` audit row says so.
    Raises AssetImportError (also for ``runtime.launch`` added or changed by a non-admin),
    PermissionRefused, InvalidTransition (a retired asset).
    """
    refuse_unless(actor, "edit", object_type="import", object_id="assets")
    if approved and not (actor.source == AuditSource.SYSTEM and actor.user is None):
        refuse_unless(actor, "admin", object_type="import", object_id="assets --approved")
        if actor.user is None:
            raise PermissionRefused(
                actor, "admin", "import", "assets --approved", "--approved needs an admin user (--as-user)"
            )
    plan = plan_import(documents)
    for item in plan:
        asset = Asset.objects.filter(asset_id=item.asset_id).first()
        if item.action == "unchanged" and not (
            approved and asset is not None and asset.live_spec != item.document
        ):
            continue
        pending = open_revision(asset) if asset is not None else None
        if (
            pending is not None
            and pending.status == RevisionStatus.SUBMITTED
            and pending.document != item.document
        ):
            do_withdraw_revision(pending, actor=actor)
        try:
            revision, _ = do_create_draft(item.document, actor=actor)
        except AssetValidationError as exc:
            raise AssetImportError([(item.source, error) for error in exc.errors]) from exc
        if revision.status == RevisionStatus.DRAFT:
            revision = do_submit_revision(revision, actor=actor)
        if approved and revision.status == RevisionStatus.SUBMITTED:
            # What this import itself just wrote and submitted: its digest, read back from the row.
            do_approve_revision(
                revision, actor=actor, digest=revision.digest, comment="imported approved", _bootstrap=True
            )
    if approved:
        record(
            "import.approved",
            actor=actor,
            object_type="import",
            object_id="assets",
            after=[item.asset_id for item in plan],
            detail="import_assets --approved: revisions approved without review (bootstrapping)",
        )
    return plan


def export_documents() -> list[dict[str, Any]]:
    """Every asset's document, ordered by ``asset_id``; re-importable as is."""
    return [canonical(asset.spec) for asset in Asset.objects.order_by("asset_id")]


@governed
def do_retire_asset(asset: Asset, *, actor: Actor) -> bool:
    """Retire: never live again (``live_spec`` cleared), its runtime is asked to stop after commit,
    its history stays. Needs ``approve``. Idempotent: False when already retired."""
    refuse_unless(actor, "approve", object_type="asset", object_id=asset.asset_id)
    locked = lock_asset(asset)
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
    asset_retired.send(sender=Asset, asset_id=locked.asset_id)
    return True
