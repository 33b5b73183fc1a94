"""The catalog: model assets stored in PostgreSQL, their revisions, API tokens and the audit log.

An asset's spec is one validated document (``models_admin.validation``); the columns
beside it are copies of the fields the catalog filters, sorts and groups by, written by
the services only, from the same document. Every document an asset ever had is an
:class:`AssetRevision`; the live one is the newest approved revision.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models


class Asset(models.Model):
    asset_id = models.SlugField(max_length=100, unique=True, allow_unicode=False)
    display_name = models.CharField(max_length=200)
    version = models.CharField(max_length=64)
    interfaces = ArrayField(models.CharField(max_length=64), help_text="Interface names, e.g. llm-runtime.")
    spec = models.JSONField(help_text="The newest normalized asset document (what editors see).")
    live_spec = models.JSONField(
        null=True,
        blank=True,
        help_text="The live (approved) document: the only one the gateway and the lifecycle use.",
    )
    retired_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when retired: never live again; its history stays."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["asset_id"]
        indexes = [GinIndex(fields=["interfaces"], name="asset_interfaces_gin")]
        # Role permissions (see models_admin.roles); Django's own view_asset is "view".
        permissions = [
            ("operate_asset", "Can wake, sleep and restart assets"),
            ("edit_asset", "Can create, edit and submit asset revisions"),
            ("approve_asset", "Can approve, reject revisions and retire assets"),
            ("administer_hub", "Can manage users, roles and API tokens"),
        ]

    def __str__(self) -> str:
        return self.asset_id

    @property
    def is_routable(self) -> bool:
        """Approved and live (retirement clears ``live_spec``)."""
        return self.live_spec is not None

    @property
    def is_retired(self) -> bool:
        return self.retired_at is not None

    @property
    def desired_state(self) -> str:
        return str(self.spec.get("lifecycle", {}).get("desired", ""))

    @property
    def runtime(self) -> dict[str, Any] | None:
        runtime = self.spec.get("runtime")
        return dict(runtime) if runtime else None

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self.spec.get("metadata") or {})


class RevisionStatus(models.TextChoices):
    """A revision's status. Transitions (``models_admin.governance.TRANSITIONS``)::

        draft --submit--> submitted --approve--> approved   (final)
                                    --reject---> rejected   (final)
                                    --withdraw-> withdrawn  (final)

    Only a draft's document may change (edits by its contributors). Once submitted, a
    revision's content never changes: editing after a withdrawal or a rejection makes a new
    revision, so an approval (which names the content's :func:`document_digest`) approves
    exactly what was reviewed. The services refuse other changes, and a PostgreSQL trigger
    refuses any UPDATE of a final row and any change of a submitted row's document.
    """

    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"

    @property
    def badge(self) -> str:
        return {
            "draft": "secondary",
            "submitted": "warning",
            "approved": "success",
            "rejected": "danger",
            "withdrawn": "secondary",
        }[self.value]


FINAL_STATUSES = (RevisionStatus.APPROVED, RevisionStatus.REJECTED, RevisionStatus.WITHDRAWN)
OPEN_STATUSES = (RevisionStatus.DRAFT, RevisionStatus.SUBMITTED)


def document_digest(document: Any) -> str:
    """What an approval names: the SHA-256 (hex) of the document's canonical JSON (keys sorted,
    no whitespace, UTF-8). Computed here only; always from the document as stored."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


SHORT_DIGEST = 12  # hex characters shown to people (the API and forms carry all 64)


class AssetRevision(models.Model):
    """One document an asset had, numbered from 1 per asset. At most one is open (draft or submitted)."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    document = models.JSONField(help_text="The normalized asset document of this revision.")
    status = models.CharField(max_length=16, choices=RevisionStatus.choices, default=RevisionStatus.DRAFT)
    author = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    contributors = ArrayField(
        models.BigIntegerField(),
        default=list,
        blank=True,
        help_text="Ids of every user who wrote this draft (the author included): none may approve it.",
    )
    submitted_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["asset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["asset", "number"], name="revision_number_unique"),
            models.UniqueConstraint(
                fields=["asset"],
                condition=models.Q(status__in=["draft", "submitted"]),
                name="revision_one_open_per_asset",
            ),
        ]
        indexes = [models.Index(fields=["status", "submitted_at"], name="revision_queue_idx")]

    def __str__(self) -> str:
        return f"{self.asset.asset_id} r{self.number} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def digest(self) -> str:
        """:func:`document_digest` of this revision's document."""
        return document_digest(self.document)

    @property
    def short_digest(self) -> str:
        return self.digest[:SHORT_DIGEST]


TOKEN_SCOPES = ("read", "write", "operate", "approve", "gateway", "inference")


class ApiToken(models.Model):
    """A user's API token. The secret (``hub_<prefix>_<random>``) is shown once and stored only
    as an HMAC-SHA256 keyed with a key derived from ``SECRET_KEY``; see ``models_admin.tokens``."""

    user = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True, default="")
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = ArrayField(models.CharField(max_length=16), default=list)
    expires_at = models.DateTimeField(null=True, blank=True)
    allowed_networks = ArrayField(
        models.CharField(max_length=64), default=list, blank=True, help_text="CIDRs; empty allows any."
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"token {self.label}"

    @property
    def label(self) -> str:
        """How the token is shown: never the secret."""
        return f"hub_{self.prefix}" + (f" ({self.name})" if self.name else "")

    # What the owner's role allows of ``scopes`` now; set by ``models_admin.tokens.authenticate_token``
    # (not stored: a role change narrows the token without rewriting it).
    granted_scopes: frozenset[str] | None = None

    def has_scope(self, scope: str) -> bool:
        """Does the token hold ``scope``, as far as its owner's role allowed when it was authenticated?"""
        return scope in self.scopes and (self.granted_scopes is None or scope in self.granted_scopes)


class AuditSource(models.TextChoices):
    UI = "ui", "Hub-UI"
    API = "api", "API"
    CLI = "cli", "Command line"
    SYSTEM = "system", "System"


class AuditEntry(models.Model):
    """One audited action. Written by services in the same transaction as the change.

    Append-only: a PostgreSQL trigger refuses UPDATE and DELETE (migration 0003).
    """

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor_user = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=200, help_text="Who, as shown: a username, token or 'system'.")
    actor_token = models.ForeignKey(
        ApiToken, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    source = models.CharField(max_length=16, choices=AuditSource.choices)
    request_id = models.CharField(max_length=64, blank=True, default="")
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=200, db_index=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    detail = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.object_type}:{self.object_id}"
