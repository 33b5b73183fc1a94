"""Usage rollups: per-minute buckets and lifetime totals folded from the usage stream.

Only ``runtimes.metrics.rollup`` writes here, and always in one transaction with
``UsageCursor`` (the last stream id applied), which is what makes re-delivered stream
entries harmless: an id at or below the cursor has already been counted.

Latency histograms are bucket counts (not cumulative) over ``LATENCY_BUCKETS_MS``
plus one overflow bucket, so two rows add up element-wise.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models

LATENCY_BUCKETS_MS: tuple[float, ...] = (
    5,
    10,
    25,
    50,
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    30_000,
    60_000,
)
"""Upper bounds (inclusive) of the latency buckets; a last, open bucket holds the rest."""


def empty_histogram() -> list[int]:
    return [0] * (len(LATENCY_BUCKETS_MS) + 1)


class UsageCounters(models.Model):
    """What every rollup row counts. Errors are answers with status >= 400."""

    asset_id = models.CharField(max_length=100)
    interface = models.CharField(max_length=64)
    requests = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    inputs = models.BigIntegerField(default=0, help_text="Embedding inputs (index throughput).")
    latency_ms_sum = models.FloatField(default=0.0)
    latency_ms_max = models.FloatField(default=0.0)
    latency_buckets = ArrayField(models.BigIntegerField(), default=empty_histogram)
    generation_ms_sum = models.FloatField(
        default=0.0, help_text="Generation time of the requests that reported one."
    )
    generation_tokens = models.BigIntegerField(
        default=0, help_text="Completion tokens of the requests that reported a generation time."
    )

    class Meta:
        abstract = True


class UsageMinute(UsageCounters):
    """One asset's usage on one interface in one minute (by when requests finished)."""

    minute = models.DateTimeField(help_text="Start of the minute (UTC).")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["asset_id", "interface", "minute"], name="usage_minute_unique"),
        ]
        indexes = [models.Index(fields=["minute"], name="usage_minute_minute")]
        ordering = ["minute", "asset_id", "interface"]

    def __str__(self) -> str:
        return f"{self.asset_id}/{self.interface}@{self.minute:%Y-%m-%d %H:%M}"


class UsageTotal(UsageCounters):
    """Lifetime counters per asset and interface: never pruned, so Prometheus counters
    only go up."""

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["asset_id", "interface"], name="usage_total_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.asset_id}/{self.interface}"


class UsageCursor(models.Model):
    """How far a consumer of the usage stream has applied it (the last entry id, ``ms-seq``)."""

    name = models.CharField(max_length=64, primary_key=True)
    last_id = models.CharField(max_length=64, default="0-0")
    applied = models.BigIntegerField(default=0, help_text="Entries applied so far.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name}: {self.last_id}"


# The summable counters of a UsageMinute / UsageTotal row.
COUNTER_COLUMNS = (
    "requests",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "inputs",
    "latency_ms_sum",
    "generation_ms_sum",
    "generation_tokens",
)
