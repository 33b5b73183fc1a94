"""Reading the per-minute rollups: a chart's minute series and the totals over a period."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Max, Sum

from runtimes.models.usage import COUNTER_COLUMNS, LATENCY_BUCKETS_MS, UsageMinute


@dataclass(frozen=True)
class MinutePoint:
    """One minute of usage for a chart. Rates are per second over the minute; ``None``
    where there is nothing to compute from."""

    minute: datetime
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    inputs: int
    qps: float
    output_tokens_per_s: float
    gen_tokens_per_s: float | None
    inputs_per_s: float
    batch_size: float | None
    latency_avg_ms: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    error_rate: float | None


def histogram_percentile(buckets: Sequence[int], p: float, *, max_ms: float | None = None) -> float | None:
    """Estimate a percentile from bucket counts, interpolating linearly inside the bucket
    (the open last bucket ends at ``max_ms`` when known)."""
    total = sum(buckets)
    if total == 0:
        return None
    rank = p / 100.0 * total
    seen = 0
    for i, count in enumerate(buckets):
        if count and seen + count >= rank:
            lower = float(LATENCY_BUCKETS_MS[i - 1]) if i > 0 else 0.0
            upper = float(LATENCY_BUCKETS_MS[i]) if i < len(LATENCY_BUCKETS_MS) else (max_ms or lower)
            if max_ms is not None:
                upper = min(upper, max_ms)
                lower = min(lower, upper)
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
    return float(max_ms) if max_ms is not None else None


def _point(minute: datetime, c: Mapping[str, Any]) -> MinutePoint:
    req = int(c["requests"])
    inputs = int(c["inputs"])
    gms = float(c["generation_ms_sum"])
    buckets = list(c["latency_buckets"])
    max_ms = float(c["latency_ms_max"])
    return MinutePoint(
        minute=minute,
        requests=req,
        errors=int(c["errors"]),
        prompt_tokens=int(c["prompt_tokens"]),
        completion_tokens=int(c["completion_tokens"]),
        inputs=inputs,
        qps=req / 60.0,
        output_tokens_per_s=int(c["completion_tokens"]) / 60.0,
        gen_tokens_per_s=int(c["generation_tokens"]) / (gms / 1000.0) if gms > 0 else None,
        inputs_per_s=inputs / 60.0,
        batch_size=inputs / req if req and inputs else None,
        latency_avg_ms=float(c["latency_ms_sum"]) / req if req else None,
        latency_p50_ms=histogram_percentile(buckets, 50, max_ms=max_ms),
        latency_p95_ms=histogram_percentile(buckets, 95, max_ms=max_ms),
        error_rate=int(c["errors"]) / req if req else None,
    )


def minute_series(
    asset_id: str,
    since: datetime,
    *,
    until: datetime | None = None,
    interface: str | None = None,
) -> list[MinutePoint]:
    """The asset's minutes from ``since`` (inclusive) to ``until`` (exclusive), oldest
    first, all interfaces added up unless ``interface`` is given. Minutes without a row
    are absent: the caller decides whether a gap means "no traffic" or "not yet
    aggregated"."""
    rows = UsageMinute.objects.filter(asset_id=asset_id, minute__gte=since)
    if until is not None:
        rows = rows.filter(minute__lt=until)
    if interface is not None:
        rows = rows.filter(interface=interface)
    by_minute: dict[datetime, dict[str, Any]] = {}
    for row in rows.order_by("minute", "interface"):
        acc = by_minute.get(row.minute)
        if acc is None:
            by_minute[row.minute] = {
                **{name: getattr(row, name) for name in COUNTER_COLUMNS},
                "latency_ms_max": row.latency_ms_max,
                "latency_buckets": list(row.latency_buckets),
            }
            continue
        for name in COUNTER_COLUMNS:
            acc[name] += getattr(row, name)
        acc["latency_ms_max"] = max(acc["latency_ms_max"], row.latency_ms_max)
        acc["latency_buckets"] = [
            a + b for a, b in zip(acc["latency_buckets"], row.latency_buckets, strict=True)
        ]
    return [_point(minute, c) for minute, c in by_minute.items()]


@dataclass(frozen=True)
class UsageSummary:
    """Totals over a period (the API's usage statistics)."""

    asset_id: str
    since: datetime
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    inputs: int
    latency_avg_ms: float | None
    latency_max_ms: float | None


def usage_summary(asset_id: str, since: datetime, *, until: datetime | None = None) -> UsageSummary:
    rows = UsageMinute.objects.filter(asset_id=asset_id, minute__gte=since)
    if until is not None:
        rows = rows.filter(minute__lt=until)
    agg = rows.aggregate(
        requests=Sum("requests"),
        errors=Sum("errors"),
        prompt_tokens=Sum("prompt_tokens"),
        completion_tokens=Sum("completion_tokens"),
        inputs=Sum("inputs"),
        latency_ms_sum=Sum("latency_ms_sum"),
        latency_ms_max=Max("latency_ms_max"),
    )
    requests = int(agg["requests"] or 0)
    return UsageSummary(
        asset_id=asset_id,
        since=since,
        requests=requests,
        errors=int(agg["errors"] or 0),
        prompt_tokens=int(agg["prompt_tokens"] or 0),
        completion_tokens=int(agg["completion_tokens"] or 0),
        inputs=int(agg["inputs"] or 0),
        latency_avg_ms=float(agg["latency_ms_sum"]) / requests if requests else None,
        latency_max_ms=float(agg["latency_ms_max"]) if requests else None,
    )
