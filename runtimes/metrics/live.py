"""Live rates per asset and interface over a sliding 60 s window, kept in Redis.

The gateway appends :class:`~runtimes.usage.UsageEvent` entries to the usage stream.
:func:`fold_live` folds new entries into per-second buckets, one hash per asset and
second (``hub:live:<asset_id>:<second>``, fields ``<interface>|<counter>``) and one
bounded list of latency samples per asset and second; both expire after two windows.
The same MULTI/EXEC keeps an index of which assets have data: ``hub:live-index:second``
(asset → the latest second it has a bucket for) and ``hub:live-index:written`` (asset →
when its buckets were last written, to drop members whose buckets have all expired).
The fold advances one cursor key (``hub:live:cursor``) in that MULTI/EXEC too, under
WATCH, so each entry is counted exactly once however many processes fold at the same
time (a lost race just retries on the new cursor).

:func:`live_rates` first folds whatever arrived since the last fold (so what a caller
reads is at most one round trip old), then asks the index (one ZMSCORE) which of the
assets can have data in the window: the others get the "no data" answer without their
buckets being read. The window of the rest is summed inside Redis by one Lua script
call (``live_window.lua``), which answers per asset and interface the counter sums
and the latency percentiles instead of thousands of raw replies. An event
belongs to the second its request *finished* (``started_at + duration_ms``), the same
rule the per-minute rollups use. Only entries younger than the window (by stream id)
are folded: older ones cannot change a live rate, so a backlog never slows a reader.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from redis import Redis, WatchError

import core.redis
from runtimes.leases import Leases
from runtimes.usage import USAGE_STREAM, UsageEvent

log = logging.getLogger(__name__)

WINDOW_S = 60
BUCKET_TTL_S = 2 * WINDOW_S + 10
LATENCY_SAMPLES_PER_SECOND = 256  # per asset and second: bounds memory, exact below it
FOLD_BATCH = 5_000
LIVE_CURSOR_KEY = "hub:live:cursor"
# Index of assets with data: member asset_id, score the latest second with a bucket (ZADD GT)…
LIVE_INDEX_KEY = "hub:live-index:second"
# …and the wall-clock second its buckets were last written, to prune members whose buckets
# expired (BUCKET_TTL_S after that write); the extra window is a margin for clock skew.
LIVE_WRITTEN_KEY = "hub:live-index:written"
INDEX_PRUNE_AFTER_S = BUCKET_TTL_S + WINDOW_S
INDEX_PRUNE_BATCH = 1_000
_MAX_RACES = 5

Clock = Callable[[], float]

# Counter fields kept per interface in each second's hash.
_INT_FIELDS = ("req", "err", "ptok", "ctok", "in", "gtok")
_FLOAT_FIELDS = ("lat", "gms")


def is_error(status: int) -> bool:
    """A request counts as an error when the caller got anything but a 2xx/3xx answer."""
    return status >= 400


def finished_at(event: UsageEvent) -> float:
    return event.started_at + event.duration_ms / 1000.0


def redis_client() -> Redis:
    """The hub's Redis (bytes in, bytes out), one pool per process."""
    return core.redis.client()


def _bucket_key(asset_id: str, second: int) -> str:
    return f"hub:live:{asset_id}:{second}"


def _latency_key(asset_id: str, second: int) -> str:
    return f"hub:live-lat:{asset_id}:{second}"


def parse_stream_id(raw: bytes | str) -> tuple[int, int]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass
class _SecondFold:
    ints: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    floats: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    latencies: list[str] = field(default_factory=list)


def _fold_entries(entries: Sequence[tuple[Any, Mapping[Any, Any]]]) -> dict[tuple[str, int], _SecondFold]:
    """Pre-aggregate a batch in Python: one HINCRBY per (asset, second, field), not per event."""
    folds: dict[tuple[str, int], _SecondFold] = defaultdict(_SecondFold)
    for entry_id, raw in entries:
        try:
            event = UsageEvent.from_fields(raw)
        except (ValueError, KeyError) as exc:
            log.warning("usage entry %s skipped: %s", _text(entry_id), exc)
            continue
        fold = folds[(event.asset_id, int(finished_at(event)))]
        prefix = event.interface + "|"
        fold.ints[prefix + "req"] += 1
        fold.ints[prefix + "err"] += int(is_error(event.status))
        fold.ints[prefix + "ptok"] += event.prompt_tokens
        fold.ints[prefix + "ctok"] += event.completion_tokens
        fold.ints[prefix + "in"] += event.input_count
        fold.floats[prefix + "lat"] += event.duration_ms
        if event.generation_ms:
            fold.ints[prefix + "gtok"] += event.completion_tokens
            fold.floats[prefix + "gms"] += event.generation_ms
        fold.latencies.append(f"{prefix}{event.duration_ms!r}")
    return folds


def fold_live(client: Redis | None = None, *, wall_clock: Clock = time.time, limit: int = 200_000) -> int:
    """Fold usage entries that arrived since the last fold into the live buckets.

    Idempotent and safe to call from many processes at once: each stream entry is
    counted once. Returns how many entries this call folded (at most about ``limit``).
    """
    client = client or redis_client()
    folded = 0
    races = 0
    while folded < limit:
        floor = (int(wall_clock() * 1000) - (WINDOW_S + 5) * 1000, 0)
        with client.pipeline() as pipe:
            try:
                pipe.watch(LIVE_CURSOR_KEY)  # type: ignore[no-untyped-call]
                cursor_raw = cast(bytes | None, pipe.get(LIVE_CURSOR_KEY))
                cursor = parse_stream_id(cursor_raw) if cursor_raw else None
                if cursor is None or cursor < floor:
                    start = f"{floor[0]}-{floor[1]}"
                else:
                    start = f"({cursor[0]}-{cursor[1]}"
                entries = cast(
                    list[tuple[Any, Mapping[Any, Any]]],
                    pipe.xrange(USAGE_STREAM, min=start, max="+", count=FOLD_BATCH),
                )
                if not entries:
                    return folded
                wall_s = int(wall_clock())
                expired = cast(
                    list[bytes],
                    pipe.zrangebyscore(
                        LIVE_WRITTEN_KEY,
                        "-inf",
                        f"({wall_s - INDEX_PRUNE_AFTER_S}",
                        start=0,
                        num=INDEX_PRUNE_BATCH,
                    ),
                )
                folds = _fold_entries(entries)
                latest: dict[str, int] = {}
                for asset_id, second in folds:
                    latest[asset_id] = max(second, latest.get(asset_id, second))
                pipe.multi()
                if expired:  # before the ZADDs below, which re-add whatever this batch writes
                    pipe.zrem(LIVE_INDEX_KEY, *expired)
                    pipe.zrem(LIVE_WRITTEN_KEY, *expired)
                if latest:
                    pipe.zadd(LIVE_INDEX_KEY, cast(Mapping[Any, Any], latest), gt=True)
                    pipe.zadd(LIVE_WRITTEN_KEY, dict.fromkeys(latest, wall_s))
                for (asset_id, second), fold in folds.items():
                    key = _bucket_key(asset_id, second)
                    for name, n in fold.ints.items():
                        if n:
                            pipe.hincrby(key, name, n)
                    for name, x in fold.floats.items():
                        pipe.hincrbyfloat(key, name, x)
                    pipe.expire(key, BUCKET_TTL_S)
                    lat_key = _latency_key(asset_id, second)
                    pipe.rpush(lat_key, *fold.latencies[-LATENCY_SAMPLES_PER_SECOND:])
                    pipe.ltrim(lat_key, -LATENCY_SAMPLES_PER_SECOND, -1)
                    pipe.expire(lat_key, BUCKET_TTL_S)
                pipe.set(LIVE_CURSOR_KEY, _text(entries[-1][0]))
                pipe.execute()
            except WatchError:
                races += 1
                if races >= _MAX_RACES:
                    return folded  # others are folding the same entries; their result is ours
                continue
        folded += len(entries)
        if len(entries) < FOLD_BATCH:
            break
    return folded


@dataclass(frozen=True)
class InterfaceRates:
    """One interface's numbers over the window. ``None`` means "no data", never zero."""

    interface: str
    requests: int
    errors: int
    qps: float
    output_tokens_per_s: float
    gen_tokens_per_s: float | None  # completion tokens ÷ generation time, token-weighted
    inputs_per_s: float  # embeddings: index throughput
    batch_size: float | None  # inputs per request (embeddings)
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    error_rate: float | None


@dataclass(frozen=True)
class LiveRates:
    """An asset's live numbers over the last ``window_s`` seconds, all interfaces together,
    with the per-interface split in ``interfaces``. ``active_sessions`` = live leases."""

    asset_id: str
    window_s: int
    requests: int
    errors: int
    qps: float
    output_tokens_per_s: float
    gen_tokens_per_s: float | None
    inputs_per_s: float
    batch_size: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    error_rate: float | None
    active_sessions: int | None
    interfaces: dict[str, InterfaceRates]


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of already sorted values; None for none."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class _Acc:
    """Counter sums over the window, and latency percentiles computed where the samples are."""

    ints: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_INT_FIELDS, 0))
    floats: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_FLOAT_FIELDS, 0.0))
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None

    def add(self, other: _Acc) -> None:
        for k, n in other.ints.items():
            self.ints[k] += n
        for k, x in other.floats.items():
            self.floats[k] += x

    def rates(self, window_s: int) -> dict[str, Any]:
        req, err = self.ints["req"], self.ints["err"]
        gms = self.floats["gms"]
        return {
            "requests": req,
            "errors": err,
            "qps": req / window_s,
            "output_tokens_per_s": self.ints["ctok"] / window_s,
            "gen_tokens_per_s": self.ints["gtok"] / (gms / 1000.0) if gms > 0 else None,
            "inputs_per_s": self.ints["in"] / window_s,
            "batch_size": self.ints["in"] / req if req and self.ints["in"] else None,
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p95_ms": self.latency_p95_ms,
            "error_rate": err / req if req else None,
        }


@dataclass
class _Window:
    """One asset's window: per interface (in order of first appearance) and all together."""

    interfaces: dict[str, _Acc] = field(default_factory=dict)
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None


_WINDOW_SCRIPT = (Path(__file__).parent / "live_window.lua").read_text(encoding="utf-8")


def _window_keys(asset_id: str, seconds: range) -> list[str]:
    keys: list[str] = []
    for second in seconds:
        keys += (_bucket_key(asset_id, second), _latency_key(asset_id, second))
    return keys


def _optional_float(raw: bytes | None) -> float | None:
    return None if raw is None else float(raw)


def _read_window(client: Redis, asset_ids: list[str], seconds: range) -> dict[str, _Window]:
    """Each asset's sums and latency percentiles over ``seconds``, in one script call."""
    keys = [key for asset_id in asset_ids for key in _window_keys(asset_id, seconds)]
    script = client.register_script(_WINDOW_SCRIPT)
    replies = cast(list[list[Any]], script(keys=keys, args=[len(seconds)], client=client))
    windows: dict[str, _Window] = {}
    for asset_id, (p50, p95, *interfaces) in zip(asset_ids, replies, strict=True):
        window = _Window(latency_p50_ms=_optional_float(p50), latency_p95_ms=_optional_float(p95))
        for raw_name, flat, if_p50, if_p95 in interfaces:
            acc = _Acc(latency_p50_ms=_optional_float(if_p50), latency_p95_ms=_optional_float(if_p95))
            for raw_field, raw_sum in zip(flat[::2], flat[1::2], strict=True):
                name = _text(raw_field)
                if name in acc.ints:
                    acc.ints[name] += int(float(raw_sum))
                elif name in acc.floats:
                    acc.floats[name] += float(raw_sum)
            window.interfaces[_text(raw_name)] = acc
        windows[asset_id] = window
    return windows


def live_rates(
    asset_ids: Iterable[str],
    *,
    now: float | None = None,
    client: Redis | None = None,
    fold: bool = True,
    with_sessions: bool = True,
) -> dict[str, LiveRates]:
    """Live rates for each asset over the ``WINDOW_S`` seconds ending at ``now`` (default:
    the wall clock). Every asset asked for is in the answer; one with no traffic has zero
    rates and ``None`` for latencies, speed and error rate. Costs two round trips after the
    fold however many assets are asked for: the index, then one script over the assets
    that have data in the window."""
    ids = list(dict.fromkeys(asset_ids))
    if not ids:
        return {}
    client = client or redis_client()
    if fold:
        fold_live(client)
    end = int(time.time() if now is None else now)
    seconds = range(end - WINDOW_S + 1, end + 1)
    # An asset whose latest bucket is older than the window has nothing in it.
    latest = client.zmscore(LIVE_INDEX_KEY, ids)
    active = [a for a, second in zip(ids, latest, strict=True) if second is not None and second >= seconds[0]]
    windows = _read_window(client, active, seconds) if active else {}
    sessions = _active_sessions(client, ids) if with_sessions else {}

    result: dict[str, LiveRates] = {}
    for asset_id in ids:
        window = windows.get(asset_id) or _Window()
        total = _Acc(latency_p50_ms=window.latency_p50_ms, latency_p95_ms=window.latency_p95_ms)
        for acc in window.interfaces.values():
            total.add(acc)
        result[asset_id] = LiveRates(
            asset_id=asset_id,
            window_s=WINDOW_S,
            active_sessions=sessions.get(asset_id),
            interfaces={
                name: InterfaceRates(interface=name, **acc.rates(WINDOW_S))
                for name, acc in sorted(window.interfaces.items())
            },
            **total.rates(WINDOW_S),
        )
    return result


def _active_sessions(client: Redis, asset_ids: list[str]) -> dict[str, int]:
    """Live leases per asset; empty (the UI shows "—") if the lease store cannot answer."""
    try:
        return Leases(client).active_counts(asset_ids)
    except Exception:  # a metrics read must not fail because the lease store hiccuped
        log.warning("active sessions unavailable", exc_info=True)
        return {}
