"""Read side of the catalog for Hub-UI: grouped, filtered, paginated pages with live data.

Writes never happen here. Live data comes from the parts of the hub that own it (runtime
states and lifecycle events, leases, live rates and minute rollups, revisions); a value
nobody recorded shows as "—", never as an invented number.

Query budget of :func:`models_page`: one count query for every group at once, then one
page query per shown group (runtime states joined in), whatever the number of assets.
Live rates and lease counts come from Redis in one batched call each.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Case, Count, Exists, F, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import Lower
from django.utils import timezone

from models_admin.interfaces import InterfaceSpec, all_interfaces
from models_admin.models import Asset, AssetRevision, RevisionStatus
from runtimes import lifecycle
from runtimes.leases import QueueSnapshot, active_counts, queue_snapshots
from runtimes.metrics.live import live_rates
from runtimes.models import ObservedState, RuntimeState

PAGE_SIZE = 50
ALWAYS_SHOWN_GROUPS = 2  # "Language Models" and "Embedding Models" show even when empty

APPROVAL_LABELS = {
    "live": ("Live", "ok"),
    "pending": ("Awaiting approval", "warn"),
    "draft": ("Unsubmitted changes", "idle"),
    "unapproved": ("Not approved", "bad"),
}
SORTS = {
    "name": ("display_name_lower", "asset_id"),
    "id": ("asset_id",),
    "version": ("version", "asset_id"),
    "state": ("state_sort", "asset_id"),
    "last_used": ("last_used_sort", "asset_id"),
    "updated": ("updated_at", "asset_id"),
}
SORT_LABELS = {
    "name": "Name",
    "id": "Asset id",
    "version": "Version",
    "state": "State",
    "last_used": "Last used",
    "updated": "Last changed",
}


# Observed states (runtimes.models.ObservedState) and how the UI tells them apart; the badge
# always carries the state's name, the colour only repeats it.
STATE_TONES = {
    "running": "ok",
    "starting": "warn",
    "stopping": "warn",
    "sleeping": "idle",
    "stopped": "idle",
    "failed": "bad",
    "unreachable": "bad",
}
TRANSITIONAL_STATES = frozenset({"starting", "stopping"})


def state_choices() -> list[tuple[str, str]]:
    return [(str(v), str(label)) for v, label in ObservedState.choices]


def state_label(state: str) -> str:
    return dict(state_choices()).get(state, state)


def runtime_state(asset: Asset) -> RuntimeState | None:
    try:
        return asset.runtime_state
    except ObjectDoesNotExist:
        return None


def state_of(asset: Asset) -> str | None:
    """The observed state, or None when the lifecycle has no record of the asset yet."""
    observed = runtime_state(asset)
    return str(observed.state) if observed is not None else None


def last_used(asset: Asset) -> datetime | None:
    observed = runtime_state(asset)
    return observed.last_request_at if observed is not None else None


def pending_revision_exists() -> Exists:
    """``Exists(a submitted revision of this asset)``."""
    return Exists(AssetRevision.objects.filter(asset=OuterRef("pk"), status=RevisionStatus.SUBMITTED))


@dataclass(frozen=True)
class LiveSnapshot:
    rates: Mapping[str, Any]  # asset_id -> runtimes.metrics.LiveRates
    active: Mapping[str, int]  # asset_id -> live leases
    queues: Mapping[str, QueueSnapshot] = field(default_factory=dict)  # the gateway's queue


def live_snapshot(asset_ids: list[str]) -> LiveSnapshot:
    """Live rates and lease counts for ``asset_ids``: one batched Redis call each."""
    if not asset_ids:
        return LiveSnapshot({}, {})
    return LiveSnapshot(
        live_rates(asset_ids, with_sessions=False), active_counts(asset_ids), queue_snapshots(asset_ids)
    )


@dataclass(frozen=True)
class ModelsQuery:
    """What the models page was asked for: parsed from the query string, always valid."""

    q: str = ""
    state: str = ""
    approval: str = ""
    sort: str = "name"
    descending: bool = False
    pages: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> ModelsQuery:
        sort = params.get("sort", "name")
        descending = sort.startswith("-")
        sort = sort.lstrip("-")
        state = params.get("state", "")
        approval = params.get("approval", "")
        pages = {}
        for spec in all_interfaces():
            raw = params.get(f"{spec.name}-page", "1")
            pages[spec.name] = int(raw) if raw.isdigit() and int(raw) > 0 else 1
        return cls(
            q=params.get("q", "").strip()[:100],
            state=state if state in dict(state_choices()) or state == "unknown" else "",
            approval=approval if approval in APPROVAL_LABELS else "",
            sort=sort if sort in SORTS else "name",
            descending=descending,
            pages=pages,
        )

    def params(self, **overrides: Any) -> dict[str, str]:
        values: dict[str, Any] = {
            "q": self.q,
            "state": self.state,
            "approval": self.approval,
            "sort": ("-" if self.descending else "") + self.sort
            if self.sort != "name" or self.descending
            else "",
        }
        values.update({f"{name}-page": page for name, page in self.pages.items() if page != 1})
        values.update(overrides)
        return {k: str(v) for k, v in values.items() if v not in ("", None, 1, "1")}


@dataclass(frozen=True)
class Cell:
    text: str
    numeric: bool = False
    title: str = ""


@dataclass(frozen=True)
class Badge:
    label: str
    tone: str  # ok | warn | bad | idle (colour only repeats what the text says)


@dataclass
class Row:
    asset: Asset
    state: Badge
    approval: Badge
    cells: list[Cell]
    state_value: str = ""
    transitional: bool = False
    runtime: Runtime | None = None


@dataclass(frozen=True)
class Runtime:
    """What the UI says about an asset's runtime: kind, where, last failure, what may be done."""

    kind: str  # "—" without a runtime block
    host: str  # the machine it runs on (or must), or the server it is reached at; "—" if none
    failure: str  # the last failure's first line ("" if none)
    wake_refusal: str  # why there is no Wake button ("" when a wake can start it)
    managed: bool  # the hub starts and stops it (sleep / restart make sense)
    launched: bool  # the hub runs it as a process (it has a log here)


def runtime_of(asset: Asset) -> Runtime:
    """Read off the live document and the observed state (already joined): no query."""
    policy = lifecycle.policy_for(asset)
    runtime = (asset.live_spec or {}).get("runtime") or {}
    observed = runtime_state(asset)
    host = (observed.host if observed is not None else "") or str(runtime.get("host") or "")
    if not host and runtime.get("base_url"):
        host = urlsplit(str(runtime["base_url"])).netloc
    failure = lifecycle.error_summary(observed.last_error) if observed is not None else ""
    return Runtime(
        kind=str(runtime.get("kind") or "—"),
        host=host or "—",
        failure=failure,
        wake_refusal=lifecycle.wake_refusal(policy, observed.state if observed is not None else None),
        managed=policy.runnable and policy.managed,
        launched=policy.runnable and policy.launched,
    )


@dataclass
class GroupPage:
    interface: InterfaceSpec
    total: int
    page: int
    num_pages: int
    rows: list[Row] = field(default_factory=list)

    @property
    def first_index(self) -> int:
        return (self.page - 1) * PAGE_SIZE + 1 if self.total else 0

    @property
    def last_index(self) -> int:
        return min(self.page * PAGE_SIZE, self.total)


def _fmt_number(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        return f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"
    return str(value)


def ago(when: datetime | None, now: datetime) -> Cell:
    if when is None:
        return Cell("—", title="Never used, or not recorded")
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 60:
        text = f"{seconds}s ago"
    elif seconds < 3600:
        text = f"{seconds // 60} min ago"
    elif seconds < 86400:
        text = f"{seconds // 3600} h ago"
    else:
        text = f"{seconds // 86400} d ago"
    return Cell(text, title=when.isoformat(timespec="seconds"))


# Interface columns whose value is not asset metadata but live data: key -> LiveRates attribute.
RATE_COLUMNS = {
    "tokens_per_sec": "output_tokens_per_s",
    "qps": "qps",
    "inputs_per_sec": "inputs_per_s",
    "batch_size": "batch_size",
    "latency_p50_ms": "latency_p50_ms",
    "latency_p95_ms": "latency_p95_ms",
    "error_rate": "error_rate",
}


def _cell(key: str, asset: Asset, spec: InterfaceSpec, snapshot: LiveSnapshot, now: datetime) -> Cell:
    if spec.metadata_field(key) is not None:
        value = asset.metadata.get(key)
        return Cell("—" if value is None else _fmt_number(value), numeric=not isinstance(value, str))
    if key in RATE_COLUMNS:
        rates = snapshot.rates.get(asset.asset_id)
        if rates is not None and len(asset.interfaces) > 1:
            rates = rates.interfaces.get(spec.name)  # a two-interface asset: this interface's share
        value = getattr(rates, RATE_COLUMNS[key], None) if rates is not None else None
        return Cell("—" if value is None else _fmt_number(value), numeric=True)
    if key == "active_sessions":
        limit = (asset.live_spec or asset.spec).get("policy", {}).get("max_concurrency")
        active = snapshot.active.get(asset.asset_id)
        shown = "—" if active is None else str(active)
        text = f"{shown} / {limit if limit is not None else '—'}"
        queue = snapshot.queues.get(asset.asset_id)
        if queue is not None and queue.depth:  # requests waiting in the gateway's queue
            wait = f", ~{queue.wait_ms / 1000:.1f} s" if queue.wait_ms is not None else ""
            text += f" (+{queue.depth} waiting{wait})"
        return Cell(text, numeric=True)
    if key == "last_used":
        return ago(last_used(asset), now)
    value = asset.metadata.get(key)
    return Cell("—" if value is None else _fmt_number(value), numeric=not isinstance(value, str))


def state_badge(state: str | None) -> Badge:
    if not state:
        return Badge("Unknown", "idle")  # the lifecycle has no record of it yet
    return Badge(state_label(state), STATE_TONES.get(state, "idle"))


def approval_badge(approval: str) -> Badge:
    label, tone = APPROVAL_LABELS.get(approval, (approval, "idle"))
    return Badge(label, tone)


def annotated_assets() -> QuerySet[Asset]:
    """Assets with ``approval`` (a key of APPROVAL_LABELS) and sort keys annotated."""
    return Asset.objects.select_related("runtime_state").annotate(
        approval=Case(
            When(pending_revision_exists(), then=Value("pending")),
            When(live_spec__isnull=True, then=Value("unapproved")),
            When(spec=F("live_spec"), then=Value("live")),
            default=Value("draft"),
        ),
        display_name_lower=Lower("display_name"),
        state_sort=F("runtime_state__state"),
        last_used_sort=F("runtime_state__last_request_at"),
    )


def _filtered(query: ModelsQuery) -> QuerySet[Asset]:
    qs = annotated_assets()
    if query.q:
        qs = qs.filter(Q(asset_id__icontains=query.q) | Q(display_name__icontains=query.q))
    if query.state == "unknown":
        qs = qs.filter(runtime_state__isnull=True)
    elif query.state:
        qs = qs.filter(runtime_state__state=query.state)
    if query.approval:
        qs = qs.filter(**{"approval": query.approval})  # an annotation (the type plugin cannot see it)
    return qs


def _ordered(qs: QuerySet[Asset], query: ModelsQuery) -> QuerySet[Asset]:
    fields = SORTS[query.sort]
    first = F(fields[0])
    ordering = [first.desc(nulls_last=True) if query.descending else first.asc(nulls_last=True)]
    return qs.order_by(*ordering, *fields[1:])


def models_page(query: ModelsQuery) -> list[GroupPage]:
    """The models page: one :class:`GroupPage` per shown interface group, in registry order.

    An asset implementing two interfaces appears in both groups.
    """
    specs = all_interfaces()
    qs = _filtered(query)
    counts = qs.aggregate(
        **{f"g{i}": Count("pk", filter=Q(interfaces__contains=[s.name])) for i, s in enumerate(specs)}
    )
    groups: list[GroupPage] = []
    for index, spec in enumerate(specs):
        total = counts[f"g{index}"] or 0
        if not total and spec.order >= ALWAYS_SHOWN_GROUPS:
            continue
        num_pages = max(1, math.ceil(total / PAGE_SIZE))
        page = min(query.pages.get(spec.name, 1), num_pages)
        group = GroupPage(spec, total, page, num_pages)
        if total:
            start = (page - 1) * PAGE_SIZE
            assets = list(
                _ordered(qs.filter(interfaces__contains=[spec.name]), query)[start : start + PAGE_SIZE]
            )
            group.rows = [Row(a, Badge("", ""), Badge("", ""), []) for a in assets]
        groups.append(group)

    ids = list(dict.fromkeys(row.asset.asset_id for g in groups for row in g.rows))
    snapshot = live_snapshot(ids)
    now = timezone.now()
    for group in groups:
        for row in group.rows:
            state = state_of(row.asset)
            row.state = state_badge(state)
            row.state_value = state or ""
            row.transitional = state in TRANSITIONAL_STATES
            row.approval = approval_badge(getattr(row.asset, "approval", ""))
            row.runtime = runtime_of(row.asset)
            row.cells = [
                _cell(c.key, row.asset, group.interface, snapshot, now) for c in group.interface.columns
            ]
    return groups
