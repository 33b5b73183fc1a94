"""API schemas for assets, revisions and imports (``models_admin/api.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from ninja import Schema
from pydantic import ConfigDict, Field, WithJsonSchema

from models_admin.document_schema import asset_document_schema


class StrictIn(Schema):
    """Request bodies: no type coercion ("1" is not a number), unknown fields refused."""

    model_config = ConfigDict(strict=True, extra="forbid")


class AssetOut(Schema):
    asset_id: str
    display_name: str
    version: str
    interfaces: list[str]
    live: bool
    retired_at: datetime | None
    spec: dict[str, Any]
    live_spec: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


class AssetPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[AssetOut]


class DocumentIn(StrictIn):
    """An asset document (seed 002 §6 plus ``runtime``), validated by the catalog's validator."""

    # Published as the document's JSON Schema; the catalog's validator judges it (422).
    document: Annotated[dict[str, Any], WithJsonSchema(asset_document_schema())]


DIGEST = r"^[0-9a-f]{64}$"


class RevisionOut(Schema):
    id: int
    asset_id: str
    number: int
    status: str
    document: dict[str, Any]
    digest: str = Field(
        description="SHA-256 (hex) of the document's canonical JSON: what an approval must name."
    )
    author: str | None
    submitted_by: str | None
    submitted_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    comment: str
    created_at: datetime


class ApproveIn(StrictIn):
    """Approve exactly the content reviewed: ``digest`` is the revision's ``digest`` as read."""

    digest: str = Field(
        min_length=64,
        max_length=64,
        pattern=DIGEST,
        description="The reviewed revision's digest (GET /revisions/{id}); another one answers 409.",
    )
    comment: str = Field("", max_length=2000, pattern=r"^[^\x00]*$")


class RejectIn(StrictIn):
    comment: str = Field(min_length=1, max_length=2000, pattern=r"^[^\x00]*$")


class ImportIn(StrictIn):
    yaml: str = Field(min_length=1, max_length=5_000_000, pattern=r"^[^\x00]*$")
    dry_run: bool = False


class PlanItemOut(Schema):
    asset_id: str
    action: str
    source: str
    changes: list[list[Any]]


class ImportOut(Schema):
    dry_run: bool
    items: list[PlanItemOut]
