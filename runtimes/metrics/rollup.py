"""Per-minute usage rollups in PostgreSQL, folded from the usage stream.

The aggregator reads ``hub:usage`` through the consumer group ``hub-rollup``. For each
batch, in ONE PostgreSQL transaction, it locks the ``UsageCursor`` row, drops entries at
or below the cursor (already counted by an earlier, interrupted run), adds the rest to
``UsageMinute`` and ``UsageTotal`` and moves the cursor. Only then does it XACK. So:

- dying after the read but before the commit: the entries stay pending in the group and
  the next run re-claims them (XAUTOCLAIM) and counts them;
- dying after the commit but before the ack: they are re-delivered, and skipped as
  ``<= cursor``;
- running twice at once: a PostgreSQL advisory lock admits one aggregator, and a dead
  one's lock goes with its connection.

Pending entries are always re-claimed before new ones are read, so applied ids only
grow and the cursor test is exact.
"""

from __future__ import annotations

import bisect
import logging
import os
import socket
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.db import connection, transaction
from redis import Redis, ResponseError

from runtimes.metrics.live import finished_at, is_error, parse_stream_id, redis_client
from runtimes.models.usage import (
    COUNTER_COLUMNS,
    LATENCY_BUCKETS_MS,
    UsageCursor,
    UsageMinute,
    UsageTotal,
    empty_histogram,
)
from runtimes.usage import USAGE_STREAM, UsageEvent

log = logging.getLogger(__name__)

GROUP = "hub-rollup"
CURSOR_NAME = "rollup"
BATCH = 2_000
_ADVISORY_LOCK = 0x4855_4255_5347  # "HUBUSG": one aggregator at a time, cluster-wide

Entry = tuple[Any, Mapping[Any, Any]]


def retention_days() -> int:
    return int(settings.HUB_USAGE_RETENTION_DAYS)


@dataclass
class _Counters:
    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    inputs: int = 0
    latency_ms_sum: float = 0.0
    latency_ms_max: float = 0.0
    latency_buckets: list[int] = field(default_factory=empty_histogram)
    generation_ms_sum: float = 0.0
    generation_tokens: int = 0

    def add(self, event: UsageEvent) -> None:
        self.requests += 1
        self.errors += int(is_error(event.status))
        self.prompt_tokens += event.prompt_tokens
        self.completion_tokens += event.completion_tokens
        self.inputs += event.input_count
        self.latency_ms_sum += event.duration_ms
        self.latency_ms_max = max(self.latency_ms_max, event.duration_ms)
        self.latency_buckets[bisect.bisect_left(LATENCY_BUCKETS_MS, event.duration_ms)] += 1
        if event.generation_ms:
            self.generation_ms_sum += event.generation_ms
            self.generation_tokens += event.completion_tokens


def minute_of(timestamp: float) -> datetime:
    return datetime.fromtimestamp(int(timestamp // 60) * 60, tz=UTC)


def _upsert_sql(table: str, key_columns: Sequence[str]) -> str:
    columns = [*key_columns, *COUNTER_COLUMNS, "latency_ms_max", "latency_buckets"]
    adds = [f"{c} = {table}.{c} + EXCLUDED.{c}" for c in COUNTER_COLUMNS]
    adds.append(f"latency_ms_max = GREATEST({table}.latency_ms_max, EXCLUDED.latency_ms_max)")
    adds.append(
        f"latency_buckets = ARRAY(SELECT a + b FROM unnest({table}.latency_buckets, "
        "EXCLUDED.latency_buckets) WITH ORDINALITY AS u(a, b, i) ORDER BY i)"
    )
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({', '.join(key_columns)}) DO UPDATE SET {', '.join(adds)}"
    )


def _row(keys: Sequence[Any], c: _Counters) -> list[Any]:
    return [*keys, *(getattr(c, name) for name in COUNTER_COLUMNS), c.latency_ms_max, c.latency_buckets]


@dataclass
class AggregateResult:
    applied: int = 0  # entries counted into the rollups by this run
    skipped: int = 0  # re-delivered entries already counted, or malformed ones
    batches: int = 0
    pruned: int = 0
    locked_out: bool = False  # another aggregator was running


def apply_batch(entries: Sequence[Entry]) -> tuple[int, int]:
    """Count one batch into the rollups, exactly once. Returns (applied, skipped).

    One transaction: lock the cursor, drop ids at or below it, upsert, move the cursor.
    """
    if not entries:
        return 0, 0
    minute_table = UsageMinute._meta.db_table
    total_table = UsageTotal._meta.db_table
    with transaction.atomic():
        UsageCursor.objects.bulk_create([UsageCursor(name=CURSOR_NAME)], ignore_conflicts=True)
        cursor = UsageCursor.objects.select_for_update().get(name=CURSOR_NAME)
        last = parse_stream_id(cursor.last_id)
        minutes: dict[tuple[str, str, datetime], _Counters] = defaultdict(_Counters)
        totals: dict[tuple[str, str], _Counters] = defaultdict(_Counters)
        applied = skipped = 0
        newest = last
        for entry_id, raw in entries:
            sid = parse_stream_id(entry_id)
            if sid <= last:
                skipped += 1
                continue
            newest = max(newest, sid)
            try:
                event = UsageEvent.from_fields(raw)
            except (ValueError, KeyError) as exc:
                log.warning("usage entry %s skipped: %s", sid, exc)
                skipped += 1
                continue
            minutes[(event.asset_id, event.interface, minute_of(finished_at(event)))].add(event)
            totals[(event.asset_id, event.interface)].add(event)
            applied += 1
        if newest == last:
            return 0, skipped
        with connection.cursor() as db:
            if minutes:
                db.executemany(
                    _upsert_sql(minute_table, ("asset_id", "interface", "minute")),
                    [_row(k, c) for k, c in sorted(minutes.items())],
                )
                db.executemany(
                    _upsert_sql(total_table, ("asset_id", "interface")),
                    [_row(k, c) for k, c in sorted(totals.items())],
                )
        cursor.last_id = f"{newest[0]}-{newest[1]}"
        cursor.applied += applied
        cursor.save(update_fields=["last_id", "applied", "updated_at"])
    return applied, skipped


def ensure_group(client: Redis) -> None:
    try:
        client.xgroup_create(USAGE_STREAM, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _claim_pending(client: Redis, consumer: str) -> list[Entry]:
    """Every entry pending in the group (a dead run's), moved to ``consumer``, oldest first."""
    claimed: list[Entry] = []
    start = "0-0"
    while True:
        reply = cast(
            Sequence[Any],
            client.xautoclaim(USAGE_STREAM, GROUP, consumer, min_idle_time=0, start_id=start, count=BATCH),
        )
        start = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
        claimed.extend(e for e in reply[1] if e and e[1] is not None)
        if start == "0-0" or not reply[1]:
            return claimed


def _read_new(client: Redis, consumer: str) -> list[Entry]:
    reply = cast(list[Any] | None, client.xreadgroup(GROUP, consumer, {USAGE_STREAM: ">"}, count=BATCH))
    if not reply:
        return []
    return [e for e in reply[0][1] if e and e[1] is not None]


def aggregate_usage(
    client: Redis | None = None,
    *,
    max_batches: int | None = None,
    now: datetime | None = None,
) -> AggregateResult:
    """Fold the usage stream into the rollups until it is drained (or ``max_batches``),
    then prune minutes older than the retention. Idempotent; safe to run concurrently
    (a second run returns at once with ``locked_out``)."""
    client = client or redis_client()
    result = AggregateResult()
    with connection.cursor() as db:
        db.execute("SELECT pg_try_advisory_lock(%s)", [_ADVISORY_LOCK])
        if not db.fetchone()[0]:
            result.locked_out = True
            return result
    try:
        ensure_group(client)
        consumer = f"{socket.gethostname()}-{os.getpid()}"
        pending = _claim_pending(client, consumer)
        while max_batches is None or result.batches < max_batches:
            entries, pending = (
                (pending[:BATCH], pending[BATCH:]) if pending else (_read_new(client, consumer), [])
            )
            if not entries:
                break
            applied, skipped = apply_batch(entries)
            client.xack(USAGE_STREAM, GROUP, *[e[0] for e in entries])
            result.applied += applied
            result.skipped += skipped
            result.batches += 1
        result.pruned = prune(now=now)
    finally:
        with connection.cursor() as db:
            db.execute("SELECT pg_advisory_unlock(%s)", [_ADVISORY_LOCK])
    return result


def prune(*, now: datetime | None = None, days: int | None = None) -> int:
    """Delete minutes older than the retention (``HUB_USAGE_RETENTION_DAYS``, default 30).
    Lifetime totals are kept."""
    cutoff = (now or datetime.now(tz=UTC)) - timedelta(days=retention_days() if days is None else days)
    deleted, _ = UsageMinute.objects.filter(minute__lt=cutoff).delete()
    return deleted
