"""The catalog: model assets stored in PostgreSQL.

An asset's spec is one validated document (``models_admin.validation``); the columns
beside it are copies of the fields the catalog filters, sorts and groups by, written by
the services only, from the same document.
"""

from __future__ import annotations

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
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["asset_id"]
        indexes = [GinIndex(fields=["interfaces"], name="asset_interfaces_gin")]

    def __str__(self) -> str:
        return self.asset_id

    @property
    def is_routable(self) -> bool:
        """Approved and live (retirement, once it exists, clears ``live_spec``)."""
        return self.live_spec is not None

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


class AuditSource(models.TextChoices):
    UI = "ui", "Hub-UI"
    API = "api", "API"
    CLI = "cli", "Command line"
    SYSTEM = "system", "System"


class AuditEntry(models.Model):
    """One audited action. Written by services in the same transaction as the change."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor_user = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=200, help_text="Who, as shown: a username, token or 'system'.")
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
