"""Read side of one asset for Hub-UI: its page (live document, pending change, runtime panel,
log, events, audit, charts) and the approvals queue. Writes never happen here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from models_admin import governance
from models_admin.documents import canonical, diff_documents
from models_admin.interfaces import Throughput, all_interfaces
from models_admin.models import Asset, AssetRevision, AuditEntry
from models_admin.roles import has_permission
from models_admin.ui.models_list import (
    TRANSITIONAL_STATES,
    Badge,
    Runtime,
    ago,
    approval_badge,
    runtime_of,
    runtime_state,
    state_badge,
    state_of,
)
from models_admin.yaml_io import dump_document
from runtimes import lifecycle
from runtimes.metrics.series import minute_series
from runtimes.models import LifecycleEvent

# Asset page ---------------------------------------------------------------------------------

NEW_ASSET_TEMPLATE: dict[str, Any] = {
    "asset_id": "",
    "display_name": "",
    "version": "1.0.0",
    "interface": "llm-runtime",
    "interface_version": "v1",
    "class": "model",
    "metadata": {"context_length": 8192},
}


@dataclass
class RuntimePanel:
    state: Badge
    transitional: bool
    facts: list[tuple[str, str]]
    error: str = ""
    state_value: str = ""
    runtime: Runtime | None = None

    @property
    def live_log(self) -> bool:
        """The runtime log panel polls while a process may be writing to it."""
        return self.state_value in ("starting", "running", "stopping")


def runtime_panel(asset: Asset) -> RuntimePanel:
    """The observed runtime of ``asset`` as label/value facts (binding from the live document)."""
    state = state_of(asset)
    facts: list[tuple[str, str]] = []
    runtime = (asset.live_spec or {}).get("runtime") or {}
    facts.append(("Runtime kind", str(runtime.get("kind", "—"))))
    facts.append(("Model on runtime", str(runtime.get("model", "—"))))
    facts.append(
        ("Desired state", str((asset.live_spec or asset.spec).get("lifecycle", {}).get("desired", "—")))
    )
    error = ""
    observed = runtime_state(asset)
    now = timezone.now()
    about = runtime_of(asset)
    if about.host != "—":
        facts.append(("Host", about.host))
    if observed is not None:
        facts.append(("Base URL", observed.base_url or str(runtime.get("base_url", "—"))))
        if observed.reason:
            facts.append(("Last transition", observed.reason))
        for label, attr in (
            ("Started", "started_at"),
            ("Ready", "ready_at"),
            ("Last used", "last_request_at"),
        ):
            facts.append((label, ago(getattr(observed, attr, None), now).text))
        # Health as the same observation allows it: never "ok" beside failed or stopped.
        health = observed.observed_health
        detail = observed.health_detail if health == observed.health else ""
        facts.append(("Health", f"{health or 'unknown'} {lifecycle.error_summary(detail)}".strip()))
        if observed.consecutive_failures:
            facts.append(("Failed attempts", str(observed.consecutive_failures)))
        error = lifecycle.error_summary(observed.last_error or "")
    else:
        facts.append(("Base URL", str(runtime.get("base_url", "—"))))
    return RuntimePanel(state_badge(state), state in TRANSITIONAL_STATES, facts, error, state or "", about)


def lifecycle_events(asset: Asset | None) -> QuerySet[LifecycleEvent]:
    """Lifecycle events, newest first (of one asset, or of all)."""
    qs = LifecycleEvent.objects.select_related("asset").order_by("-at", "-id")
    return qs.filter(asset=asset) if asset is not None else qs


def asset_audit(asset: Asset) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(
        Q(object_type="asset", object_id=asset.asset_id)
        | Q(object_type="revision", object_id__startswith=f"{asset.asset_id}#")
    ).order_by("-at", "-id")


def asset_page(asset: Asset) -> dict[str, Any]:
    """Everything the asset page shows besides permissions."""
    open_rev = governance.open_revision(asset)
    live = asset.live_spec
    pending_diff = None
    if open_rev is not None:
        pending_diff = diff_documents(live, open_rev.document)
    events = lifecycle_events(asset)
    throughput = next((s.throughput for s in all_interfaces() if s.name in asset.interfaces), Throughput())
    return {
        "asset": asset,
        "approval": approval_badge(getattr(asset, "approval", "")),
        "live_yaml": dump_document(canonical(live)) if live is not None else None,
        "open_revision": open_rev,
        "pending_diff": pending_diff,
        "runtime": runtime_panel(asset),
        "log": lifecycle.runtime_log(asset),
        "events": list(events[:30]) if events is not None else None,
        "audit_entries": list(asset_audit(asset)[:30]),
        "charts": charts_for(asset.asset_id, throughput),
        "revisions": list(asset.revisions.order_by("-number")[:20]),
    }


@dataclass
class Series:
    label: str
    unit: str
    points: list[tuple[datetime, float | None]]


@dataclass
class Chart:
    title: str
    series: list[Series]


def charts_for(asset_id: str, throughput: Throughput) -> list[Chart]:
    """The last hour: the interface's throughput series (tokens/s for LLMs, QPS otherwise) and
    latency p50/p95."""
    rows = minute_series(asset_id, timezone.now() - timedelta(hours=1))

    def pick(name: str) -> list[tuple[datetime, float | None]]:
        return [(row.minute, getattr(row, name)) for row in rows]

    rate = Series(throughput.label, throughput.unit, pick(throughput.series))
    latency = [
        Series("p50", "ms", pick("latency_p50_ms")),
        Series("p95", "ms", pick("latency_p95_ms")),
    ]
    return [
        Chart(f"{rate.label}, last hour", [rate]),
        Chart("Latency p50 / p95 (ms), last hour", latency),
    ]


# Approvals ------------------------------------------------------------------------------


@dataclass
class ApprovalItem:
    revision: AssetRevision
    diff: list[tuple[str, Any, Any]]
    can_decide: bool
    reason: str  # why the buttons are not offered, when they are not
    digest: str  # of the content shown (the diff): what the approve form names


def approval_items(user: Any) -> list[ApprovalItem]:
    """The approvals queue as ``user`` sees it: each revision's diff and whether they may decide."""
    may_approve = has_permission(user, "approve")
    items = []
    for revision in governance.approval_queue():
        reason = ""
        if not may_approve:
            reason = "Approving needs the approver role."
        else:
            conflict = governance.four_eyes_conflict(revision, user)
            if conflict and not governance.self_approval_allowed():
                reason = f"Four eyes: {conflict}."
        diff = diff_documents(revision.asset.live_spec, revision.document)
        items.append(
            ApprovalItem(revision, diff, governance.can_decide(revision, user), reason, revision.digest)
        )
    return items
