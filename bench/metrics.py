"""Benchmark the usage pipeline: ingest rate of one aggregator process, and report→visible lag.

    DATABASE_URL=... REDIS_URL=... uv run python bench/metrics.py [--events 50000] [--probes 200]

It works on its own PostgreSQL database (``<name>_bench_metrics``, created and migrated
if missing) and its own Redis db (15, flushed), so a running hub is not disturbed.

1. ``--events`` usage events are published to the stream (pipelined), then folded by one
   process: live buckets (``fold_live``) and per-minute rollups (``aggregate_usage``,
   the beat task's work) are timed separately. The headline, "ingest", is both consumers
   together (every event is folded by both), the median of ``--repeat`` runs with its range.
2. Lag: while a background producer reports ``--background-rate`` events/s for other
   assets, a probe reports one event and polls ``live_rates`` (what Hub-UI reads) until
   the event is counted; repeated ``--probes`` times.
3. Read cost: ``live_rates`` over 100 asset ids (the models page's one read), first with all
   100 active (``--per-second`` events each in every second of the window), then with none
   of them active; ``--reads`` times each.

Prints a table, then one JSON line with the same figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
os.environ.setdefault("HUB_TESTING", "1")


def _isolate() -> None:
    """Point DATABASE_URL/REDIS_URL at a bench database and Redis db before Django loads."""
    import psycopg

    base = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    parts = urlsplit(base)
    name = (parts.path.lstrip("/") or "postgres") + "_bench_metrics"
    with psycopg.connect(base, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path="/" + name))
    redis = urlsplit(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    os.environ["REDIS_URL"] = urlunsplit(redis._replace(path="/15"))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3, help="ingest runs (median and range reported)")
    parser.add_argument("--assets", type=int, default=20)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--reads", type=int, default=60, help="live_rates reads per read-cost case")
    parser.add_argument("--per-second", type=int, default=2, help="events per asset and second (read cost)")
    parser.add_argument(
        "--background-rate", type=float, default=1_000.0, help="events/s during the lag probes"
    )
    args = parser.parse_args()

    _isolate()
    import django

    django.setup()
    from django.core.management import call_command
    from redis import Redis

    from runtimes.metrics.live import fold_live, live_rates, redis_client
    from runtimes.metrics.rollup import aggregate_usage
    from runtimes.models import UsageCursor, UsageMinute, UsageTotal
    from runtimes.usage import UsageEvent, publish

    call_command("migrate", verbosity=0)
    UsageMinute.objects.all().delete()
    UsageTotal.objects.all().delete()
    UsageCursor.objects.all().delete()
    client: Redis = redis_client()
    client.flushdb()

    def events(n: int, prefix: str, now: float) -> list[UsageEvent]:
        return [
            UsageEvent(
                asset_id=f"{prefix}{i % args.assets}",
                interface="llm-runtime" if i % 3 else "embedding-runtime",
                started_at=now - 0.2,
                duration_ms=50.0 + i % 400,
                status=200 if i % 50 else 500,
                prompt_tokens=20,
                completion_tokens=64 if i % 3 else 0,
                input_count=0 if i % 3 else 16,
                generation_ms=400.0 if i % 3 else None,
            )
            for i in range(n)
        ]

    # 1. Ingest, --repeat times from a clean slate.
    def ingest_once() -> tuple[float, float]:
        UsageMinute.objects.all().delete()
        UsageTotal.objects.all().delete()
        UsageCursor.objects.all().delete()
        client.flushdb()
        now = time.time()
        for start in range(0, args.events, 5_000):
            pipe = client.pipeline(transaction=False)
            publish(pipe, events(min(5_000, args.events - start), "bench-", now))
            pipe.execute()
        t0 = time.perf_counter()
        folded = fold_live(client, limit=args.events * 2)
        live_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = aggregate_usage(client)
        rollup_s = time.perf_counter() - t0
        assert result.applied == args.events, result
        assert folded == args.events, folded
        total = sum(UsageTotal.objects.values_list("requests", flat=True))
        assert total == args.events, total
        return live_s, rollup_s

    runs = [ingest_once() for _ in range(args.repeat)]
    both_rates = sorted(args.events / (live + rollup) for live, rollup in runs)
    live_rates_ingest = sorted(args.events / live for live, _ in runs)
    rollup_rates = sorted(args.events / rollup for _, rollup in runs)

    # 2. Lag from report to visible in live_rates, under background traffic.
    stop = threading.Event()

    def background() -> None:
        producer = Redis.from_url(os.environ["REDIS_URL"])
        batch = max(1, int(args.background_rate / 20))
        while not stop.is_set():
            pipe = producer.pipeline(transaction=False)
            publish(pipe, events(batch, "bg-", time.time()))
            pipe.execute()
            time.sleep(0.05)

    thread = threading.Thread(target=background, daemon=True)
    thread.start()
    lags: list[float] = []
    reads: list[float] = []
    try:
        for _ in range(args.probes):
            seen = live_rates(["probe"], client=client, with_sessions=False)["probe"].requests
            reported = time.time()
            publish(client, [UsageEvent("probe", "llm-runtime", reported - 0.01, 10.0, 200, 1, 1)])
            while True:
                r0 = time.perf_counter()
                count = live_rates(["probe"], client=client, with_sessions=False)["probe"].requests
                reads.append(time.perf_counter() - r0)
                if count > seen:
                    lags.append(time.time() - reported)
                    break
                if time.time() - reported > 30:
                    raise SystemExit("probe event never became visible")
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join()

    # 3. Read cost of live_rates over 100 ids: all active, then none.
    def read_ms(ids: list[str]) -> list[float]:
        samples = []
        for _ in range(args.reads):
            r0 = time.perf_counter()
            rates = live_rates(ids, client=client, with_sessions=False)
            samples.append((time.perf_counter() - r0) * 1000)
        assert len(rates) == len(ids)
        return samples

    active_ids = [f"rates-{i}" for i in range(100)]
    now = time.time()
    pipe = client.pipeline(transaction=False)
    publish(
        pipe,
        [
            UsageEvent(
                asset_id, "llm-runtime", now - age - 0.2 - n / 100, 80.0 + n + age, 200, 20, 64, 0, 400.0
            )
            for asset_id in active_ids
            for age in range(60)
            for n in range(args.per_second)
        ],
    )
    pipe.execute()
    fold_live(client, limit=10**7)
    active_rates = live_rates(active_ids, client=client, with_sessions=False)
    assert all(r.requests > 0 for r in active_rates.values()), "not all 100 assets active"
    active_reads = read_ms(active_ids)
    idle_reads = read_ms([f"idle-{i}" for i in range(100)])

    figures = {
        "events": args.events,
        "ingest_runs": args.repeat,
        "ingest_rollup_and_live_events_per_s": round(statistics.median(both_rates)),
        "ingest_rollup_and_live_events_per_s_min": round(both_rates[0]),
        "ingest_rollup_and_live_events_per_s_max": round(both_rates[-1]),
        "ingest_rollup_events_per_s": round(statistics.median(rollup_rates)),
        "ingest_live_events_per_s": round(statistics.median(live_rates_ingest)),
        "lag_p50_ms": round(statistics.median(lags) * 1000, 2),
        "lag_p95_ms": round(percentile(lags, 95) * 1000, 2),
        "lag_max_ms": round(max(lags) * 1000, 2),
        "live_rates_read_p95_ms": round(percentile(reads, 95) * 1000, 2),
        "background_events_per_s": args.background_rate,
        "probes": len(lags),
        "live_rates_100_active_p50_ms": round(statistics.median(active_reads), 2),
        "live_rates_100_active_p95_ms": round(percentile(active_reads, 95), 2),
        "live_rates_100_idle_p50_ms": round(statistics.median(idle_reads), 2),
        "live_rates_100_idle_p95_ms": round(percentile(idle_reads, 95), 2),
        "live_rates_reads": args.reads,
    }
    rows = [
        (
            f"ingest, both consumers (events/s, median of {args.repeat})",
            figures["ingest_rollup_and_live_events_per_s"],
            ">= 5000",
        ),
        (
            "  range (min .. max)",
            f"{both_rates[0]:.0f} .. {both_rates[-1]:.0f}",
            "",
        ),
        ("  of which per-minute rollups alone (events/s)", figures["ingest_rollup_events_per_s"], ""),
        ("  of which live buckets alone (events/s)", figures["ingest_live_events_per_s"], ""),
        ("report -> visible p50 (ms)", figures["lag_p50_ms"], ""),
        ("report -> visible p95 (ms)", figures["lag_p95_ms"], "<= 2000"),
        ("report -> visible max (ms)", figures["lag_max_ms"], ""),
        ("live_rates read p95 (ms)", figures["live_rates_read_p95_ms"], ""),
        ("live_rates 100 ids, all active p50 (ms)", figures["live_rates_100_active_p50_ms"], ""),
        ("live_rates 100 ids, all active p95 (ms)", figures["live_rates_100_active_p95_ms"], ""),
        ("live_rates 100 ids, none active p50 (ms)", figures["live_rates_100_idle_p50_ms"], ""),
        ("live_rates 100 ids, none active p95 (ms)", figures["live_rates_100_idle_p95_ms"], ""),
    ]
    print(f"{'metric':<48}{'value':>16}  target")
    for label, value, target in rows:
        print(f"{label:<48}{value!s:>16}  {target}")
    client.flushdb()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
