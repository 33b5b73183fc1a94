"""The gateway bench's cases beside latency: resolve vs bare ninja, the queue, leases."""

from __future__ import annotations

import json
import time

from bench.loadgen import Job, LoadPool, pct

CHAT = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 4}


def resolve_case(
    pool: LoadPool, hub_url: str, auth: dict[str, str], seconds: float, repeat: int
) -> dict[str, list[float]]:
    """Requests/s of ``POST /api/v1/gateway/resolve`` and of ``GET /api/v1/ping`` (a bare
    django-ninja endpoint on the same server), 8 clients, taking turns ``repeat`` times."""
    body = json.dumps({"interface": "llm-runtime", "model": "bench-llm", "wait_s": 0}).encode()
    resolve = Job(hub_url + "/api/v1/gateway/resolve", body, auth, concurrency=8, seconds=seconds)
    bare = Job(hub_url + "/api/v1/ping", b"", {}, method="GET", concurrency=8, seconds=seconds)
    out: dict[str, list[float]] = {"resolve": [], "bare": []}
    for _ in range(repeat):
        for name, job in (("bare", bare), ("resolve", resolve)):
            res = pool.run(job)
            if res.errors:
                raise RuntimeError(f"{job.url}: {res.errors} errors")
            out[name].append(res.rps)
    return out


def queued_case(
    pool: LoadPool,
    slow_url: str,
    hub_url: str,
    auth: dict[str, str],
    model: str,
    seconds: float,
    service_ms: float,
    slots: int = 4,
) -> dict[str, float]:
    """4x overload on a model with ``slots`` slots: waits against the ideal, throughput
    against direct, and how many requests were not answered 200 (lost)."""

    def job(url: str, headers: dict[str, str], name: str, clients: int) -> Job:
        body = json.dumps({"model": name, **CHAT}).encode()
        return Job(url + "/v1/chat/completions", body, headers, concurrency=clients, seconds=seconds)

    direct = pool.run(job(slow_url, {}, "slow.gguf", slots))
    queued = pool.run(job(hub_url, auth, model, 4 * slots))
    service = pct(direct.latencies_ms, 50)
    waits = [max(0.0, latency - service) for latency in queued.latencies_ms]
    # In steady state each arrival finds the other 3 x slots clients' requests ahead of it.
    ideal = service * (3 * slots) / slots
    return {
        "queued_service_ms": round(service, 1),
        "queued_wait_p50_ms": round(pct(waits, 50), 1),
        "queued_wait_p99_ms": round(pct(waits, 99), 1),
        "queued_wait_ideal_ms": round(ideal, 1),
        "queued_wait_p50_ratio": round(pct(waits, 50) / ideal, 3),
        "queued_direct_rps": round(direct.rps, 1),
        "queued_gateway_rps": round(queued.rps, 1),
        "queued_throughput_ratio": round(queued.rps / direct.rps, 3),
        "queued_lost": float(queued.errors),
        "queued_configured_service_ms": service_ms,
    }


def lease_latency(iterations: int) -> list[float]:
    """Milliseconds per lease acquire + release (Django must be set up)."""
    from django.conf import settings
    from redis import Redis

    from runtimes.leases import Leases

    leases = Leases(Redis.from_url(settings.REDIS_URL))
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        lease = leases.acquire("bench-lease", 4, 30)
        assert lease is not None
        leases.release(lease.lease_id)
        times.append((time.perf_counter() - start) * 1000)
    return times
