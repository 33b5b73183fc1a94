"""Catalog services: every write to assets goes through these functions.

Each is atomic and a no-op when nothing changes. Callers (views, API handlers,
commands) parse and authorize, then call one of these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from models_admin.audit import Actor, record
from models_admin.models import Asset
from models_admin.validation import (
    AssetValidationError,
    FieldError,
    canonical,
    diff_documents,
    document_interfaces,
    validate_asset_document,
)
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


def _columns(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "display_name": doc["display_name"],
        "version": doc["version"],
        "interfaces": document_interfaces(doc),
        "spec": doc,
    }


@transaction.atomic
def do_save_asset(doc: dict[str, Any], *, actor: Actor, asset: Asset | None = None) -> tuple[Asset, bool]:
    """Create or update one asset from a raw document; returns ``(asset, changed)``.

    Raises :class:`AssetValidationError`. Renaming an asset (a different ``asset_id``
    on an existing asset) is refused: ids are stable references for the gateway.
    Until approvals exist, a saved document is live at once.
    """
    normalized = validate_asset_document(doc)
    if asset is None:
        asset = Asset.objects.select_for_update().filter(asset_id=normalized["asset_id"]).first()
    elif asset.asset_id != normalized["asset_id"]:
        raise AssetValidationError([FieldError("asset_id", "cannot be changed once created")])
    if asset is None:
        asset = Asset.objects.create(
            asset_id=normalized["asset_id"], live_spec=normalized, **_columns(normalized)
        )
        record("asset.create", actor=actor, object_type="asset", object_id=asset.asset_id, after=normalized)
        return asset, True
    if asset.spec == normalized:
        return asset, False
    before = asset.spec
    for name, value in _columns(normalized).items():
        setattr(asset, name, value)
    asset.live_spec = normalized
    asset.save()
    record(
        "asset.update",
        actor=actor,
        object_type="asset",
        object_id=asset.asset_id,
        before=before,
        after=normalized,
    )
    return asset, True


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


@transaction.atomic
def do_import_assets(documents: Sequence[SourceDocument], *, actor: Actor) -> list[PlanItem]:
    """Import all documents or none: one transaction, validated before anything is written."""
    plan = plan_import(documents)
    for item in plan:
        if item.action != "unchanged":
            do_save_asset(item.document, actor=actor)
    return plan


def export_documents() -> list[dict[str, Any]]:
    """Every asset's document, ordered by ``asset_id``; re-importable as is."""
    return [canonical(asset.spec) for asset in Asset.objects.order_by("asset_id")]
