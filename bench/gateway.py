"""Gateway overhead, measured side by side in one run on this machine.

Starts a fake llama-server (``tests.fakes.llama_cpp``) and the hub (uvicorn serving
``hub.asgi``) as subprocesses, registers one approved, running asset behind the fake and
an API token, then measures, interleaving direct and proxied calls so both see the same
machine load:

- added latency (gateway minus direct, per percentile) at concurrency 1 and 32,
  non-streamed and streamed (time to first content chunk);
- proxied / direct throughput at concurrency 32;
- ``POST /api/v1/gateway/resolve`` throughput / a bare django-ninja endpoint's
  (``GET /api/v1/ping``) on the same server;
- lease acquire + release latency (one Lua call each) against Redis;
- the queue at 4x overload: a second fake whose every answer takes ``--service-ms``, behind
  an asset with ``max_concurrency`` 4. Direct: 4 clients (the upstream's capacity). Through
  the gateway: 16 clients, so 12 wait in line at any time; the time each request waited
  (its latency less the direct median) against the ideal (service time x its place in line
  / slots), the throughput against direct (target >= 0.95), and any request lost;
- the hub's CPU time per proxied chat request (``/proc/<pid>/task/*/schedstat``), the
  figure that stays comparable when the shared machine is busy and latencies are not.

Usage: ``DATABASE_URL=… REDIS_URL=… uv run python bench/gateway.py [--requests 400]``.
Prints a table, then one JSON object with the same figures as the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
os.environ.setdefault("HUB_DEV", "1")  # a dev run on this machine: plain HTTP, a local secret key

ASSET = "bench-llm"
QUEUED = "bench-queued"
SLOTS = 4
# The hub as it runs in production: uvicorn, one worker, httptools parser, uvloop event
# loop, no access log, warnings only (named explicitly so a missing extra fails loudly
# instead of silently falling back to h11 / asyncio).
UVICORN_ARGS = [
    "--workers",
    "1",
    "--loop",
    "uvloop",
    "--http",
    "httptools",
    "--no-access-log",
    "--log-level",
    "warning",
]
CHAT = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 4}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def setup_catalog(fake_url: str, slow_url: str) -> str:
    """Migrate, register the asset (approved, running at the fake) and make a token."""
    import logging

    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from actions.assets import do_import_assets
    from actions.tokens import do_create_token
    from models_admin.audit import Actor
    from models_admin.yaml_io import SourceDocument
    from runtimes.models import RuntimeState

    doc = {
        "asset_id": ASSET,
        "display_name": "Bench LLM",
        "version": "1.0.0",
        "interface": "llm-runtime",
        "interface_version": "v1",
        "class": "model",
        "lifecycle": {"desired": "running"},
        "policy": {"max_concurrency": 1000},
        "metadata": {"context_length": 4096},
        "runtime": {"kind": "llama-cpp", "model": "bench.gguf", "base_url": fake_url},
    }
    queued = {
        **doc,
        "asset_id": QUEUED,
        "display_name": "Bench queued LLM",
        "policy": {"max_concurrency": SLOTS, "max_queue": 1000, "queue_timeout_s": 300},
        "runtime": {"kind": "llama-cpp", "model": "slow.gguf", "base_url": slow_url},
    }
    sources = [SourceDocument("bench", 1, doc), SourceDocument("bench", 2, queued)]
    do_import_assets(sources, actor=Actor.system(), approved=True)
    from models_admin.models import Asset

    for asset_id, url in ((ASSET, fake_url), (QUEUED, slow_url)):
        asset = Asset.objects.get(asset_id=asset_id)
        RuntimeState.objects.update_or_create(asset=asset, defaults={"state": "running", "base_url": url})
    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_superuser": True})
    _, secret = do_create_token(
        user, actor=Actor(user=user, source="cli"), scopes=["inference", "gateway"], name="bench"
    )
    return str(secret)


async def chat_once(client: httpx.AsyncClient, url: str, headers: dict[str, str], model: str) -> float:
    start = time.perf_counter()
    r = await client.post(url + "/v1/chat/completions", json={"model": model, **CHAT}, headers=headers)
    elapsed = time.perf_counter() - start
    if r.status_code != 200:
        raise RuntimeError(f"{url}: {r.status_code} {r.text[:200]}")
    return elapsed * 1000


async def stream_once(client: httpx.AsyncClient, url: str, headers: dict[str, str], model: str) -> float:
    """Milliseconds to the first content chunk (the whole stream is then drained)."""
    start = time.perf_counter()
    first: float | None = None
    body = {"model": model, **CHAT, "stream": True}
    async with client.stream("POST", url + "/v1/chat/completions", json=body, headers=headers) as r:
        if r.status_code != 200:
            raise RuntimeError(f"{url}: {r.status_code}")
        async for chunk in r.aiter_raw():
            if first is None and b'"content"' in chunk:
                first = time.perf_counter()
    return ((first or time.perf_counter()) - start) * 1000


async def side_by_side(
    targets: dict[str, tuple[str, dict[str, str], str]], kind: str, concurrency: int, requests: int
) -> dict[str, tuple[list[float], float]]:
    """Per target: latencies (ms) and throughput (req/s); targets alternate round by round."""
    once = chat_once if kind == "plain" else stream_once
    out: dict[str, tuple[list[float], float]] = {name: ([], 0.0) for name in targets}
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        for url, headers, model in targets.values():  # warm pools and caches
            await asyncio.gather(*(once(client, url, headers, model) for _ in range(concurrency)))
        rounds = 4
        per_round = max(1, requests // rounds)
        elapsed = dict.fromkeys(targets, 0.0)
        for _ in range(rounds):
            for name, (url, headers, model) in targets.items():
                queue = list(range(per_round))

                async def worker(
                    todo: list[int], url: str, headers: dict[str, str], model: str
                ) -> list[float]:
                    got = []
                    while todo:
                        todo.pop()
                        got.append(await once(client, url, headers, model))
                    return got

                start = time.perf_counter()
                results = await asyncio.gather(
                    *(worker(queue, url, headers, model) for _ in range(concurrency))
                )
                elapsed[name] += time.perf_counter() - start
                out[name][0].extend(x for r in results for x in r)
        for name in targets:
            out[name] = (out[name][0], len(out[name][0]) / elapsed[name])
    return out


async def throughput(
    url: str, method: str, path: str, headers: dict[str, str], body: Any, concurrency: int, seconds: float
) -> float:
    count = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def worker() -> None:
            nonlocal count
            while time.perf_counter() < deadline:
                r = await client.request(method, path, json=body, headers=headers)
                if r.status_code != 200:
                    raise RuntimeError(f"{path}: {r.status_code} {r.text[:200]}")
                count += 1

        await client.request(method, path, json=body, headers=headers)
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return count / (time.perf_counter() - start)


def cpu_ns(pid: int) -> int:
    """CPU time the process has run so far (ns; Linux schedstat), all threads."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[0])
    return total


async def gateway_cpu(pid: int, url: str, headers: dict[str, str], model: str, requests: int) -> float:
    """The hub's CPU microseconds per proxied chat request (sequential): the gateway's own cost,
    which unlike latency barely moves with what else the machine runs."""
    async with httpx.AsyncClient(timeout=60) as client:
        for _ in range(20):
            await chat_once(client, url, headers, model)
        before = cpu_ns(pid)
        for _ in range(requests):
            await chat_once(client, url, headers, model)
        await asyncio.sleep(0.2)  # let the post-response Redis writes finish
        return (cpu_ns(pid) - before) / requests / 1000


async def closed_loop(
    url: str, headers: dict[str, str], model: str, clients: int, seconds: float
) -> tuple[list[float], float, int]:
    """``clients`` each sending one chat after another for ``seconds``: latencies (ms) of the
    answered ones, answers per second, and how many were not answered 200."""
    latencies: list[float] = []
    lost = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        await asyncio.gather(*(chat_once(client, url, headers, model) for _ in range(clients)))  # warm
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal lost
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                r = await client.post(
                    url + "/v1/chat/completions", json={"model": model, **CHAT}, headers=headers
                )
                if r.status_code == 200:
                    latencies.append((time.perf_counter() - start) * 1000)
                else:
                    lost += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return latencies, len(latencies) / (time.perf_counter() - start), lost


def queued_case(
    slow_url: str, hub_url: str, auth: dict[str, str], seconds: float, service_ms: float
) -> dict[str, float]:
    """4x overload on a model with SLOTS slots: waits against the ideal, throughput against direct."""
    direct, direct_rps, _ = asyncio.run(closed_loop(slow_url, {}, "slow.gguf", SLOTS, seconds))
    queued, queued_rps, lost = asyncio.run(closed_loop(hub_url, auth, QUEUED, 4 * SLOTS, seconds))
    service = pct(direct, 50)
    waits = [max(0.0, latency - service) for latency in queued]
    # In steady state each arrival finds the other 3 x SLOTS clients' requests ahead of it.
    ideal = service * (3 * SLOTS) / SLOTS
    return {
        "queued_service_ms": round(service, 1),
        "queued_wait_p50_ms": round(pct(waits, 50), 1),
        "queued_wait_p99_ms": round(pct(waits, 99), 1),
        "queued_wait_ideal_ms": round(ideal, 1),
        "queued_wait_p50_ratio": round(pct(waits, 50) / ideal, 3),
        "queued_direct_rps": round(direct_rps, 1),
        "queued_gateway_rps": round(queued_rps, 1),
        "queued_throughput_ratio": round(queued_rps / direct_rps, 3),
        "queued_lost": float(lost),
        "queued_configured_service_ms": service_ms,
    }


def lease_latency(iterations: int) -> list[float]:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400, help="per target and measurement")
    parser.add_argument("--seconds", type=float, default=4.0, help="per throughput measurement")
    parser.add_argument("--service-ms", type=float, default=50.0, help="the queued case's upstream time")
    parser.add_argument("--queued-seconds", type=float, default=10.0, help="per side of the queued case")
    args = parser.parse_args()

    fake_port, slow_port, hub_port = free_port(), free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING"}
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.llama_cpp", "-m", "bench.gguf", "--port", str(fake_port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    slow = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.llama_cpp",
            "-m",
            "slow.gguf",
            "--port",
            str(slow_port),
            "--delay",
            str(args.service_ms / 1000),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    fake_url = f"http://127.0.0.1:{fake_port}"
    slow_url = f"http://127.0.0.1:{slow_port}"
    hub_url = f"http://127.0.0.1:{hub_port}"
    hub = None
    try:
        wait_http(fake_url + "/health")
        wait_http(slow_url + "/health")
        token = setup_catalog(fake_url, slow_url)
        hub = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "hub.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(hub_port),
                *UVICORN_ARGS,
            ],
            cwd=ROOT,
            env=env,
        )
        wait_http(hub_url + "/api/v1/ping")
        auth = {"Authorization": f"Bearer {token}"}
        targets = {"direct": (fake_url, {}, "bench.gguf"), "gateway": (hub_url, auth, ASSET)}
        figures: dict[str, float] = {}
        rows = []
        for kind in ("plain", "stream"):
            for c in (1, 32):
                res = asyncio.run(side_by_side(targets, kind, c, args.requests))
                d, g = res["direct"][0], res["gateway"][0]
                p50 = pct(g, 50) - pct(d, 50)
                p99 = pct(g, 99) - pct(d, 99)
                suffix = ("" if kind == "plain" else "_ttfc") + f"_c{c}"
                figures[f"added_p50_ms{suffix}"] = round(p50, 3)
                figures[f"added_p99_ms{suffix}"] = round(p99, 3)
                rows.append(
                    (
                        f"{'chat' if kind == 'plain' else 'stream TTFC'} c={c}",
                        pct(d, 50),
                        pct(g, 50),
                        p50,
                        pct(d, 99),
                        pct(g, 99),
                        p99,
                    )
                )
                if kind == "plain" and c == 32:
                    figures["direct_rps_c32"] = round(res["direct"][1], 1)
                    figures["gateway_rps_c32"] = round(res["gateway"][1], 1)
                    figures["throughput_ratio"] = round(res["gateway"][1] / res["direct"][1], 3)
        figures["gateway_cpu_us_per_request"] = round(
            asyncio.run(gateway_cpu(hub.pid, hub_url, auth, ASSET, max(args.requests, 500))), 1
        )
        resolve_body = {"interface": "llm-runtime", "model": ASSET, "wait_s": 0}
        bare = asyncio.run(throughput(hub_url, "GET", "/api/v1/ping", {}, None, 8, args.seconds))
        resolve = asyncio.run(
            throughput(hub_url, "POST", "/api/v1/gateway/resolve", auth, resolve_body, 8, args.seconds)
        )
        figures["bare_ninja_rps"] = round(bare, 1)
        figures["resolve_rps"] = round(resolve, 1)
        figures["resolve_ratio"] = round(resolve / bare, 3)
        lease = lease_latency(2000)
        figures["lease_acquire_release_p50_ms"] = round(pct(lease, 50), 3)
        figures["lease_acquire_release_p99_ms"] = round(pct(lease, 99), 3)
        figures.update(queued_case(slow_url, hub_url, auth, args.queued_seconds, args.service_ms))
    finally:
        for proc in (hub, fake, slow):
            if proc is not None:
                proc.terminate()
                proc.wait(10)

    print(
        f"{'measurement':<20} {'direct p50':>10} {'gw p50':>9} {'added p50':>10} {'direct p99':>10} {'gw p99':>9} {'added p99':>10}  (ms)"
    )
    for name, dp50, gp50, a50, dp99, gp99, a99 in rows:
        print(f"{name:<20} {dp50:>10.3f} {gp50:>9.3f} {a50:>10.3f} {dp99:>10.3f} {gp99:>9.3f} {a99:>10.3f}")
    print(
        f"{'throughput c=32':<20} direct {figures['direct_rps_c32']:.0f} req/s, gateway {figures['gateway_rps_c32']:.0f} req/s, ratio {figures['throughput_ratio']:.3f}"
    )
    print(
        f"{'resolve vs bare':<20} resolve {figures['resolve_rps']:.0f} req/s, bare ninja {figures['bare_ninja_rps']:.0f} req/s, ratio {figures['resolve_ratio']:.3f}"
    )
    print(f"{'gateway CPU':<20} {figures['gateway_cpu_us_per_request']:.0f} us per proxied chat request")
    print(
        f"{'lease acq+rel':<20} p50 {figures['lease_acquire_release_p50_ms']:.3f} ms, p99 {figures['lease_acquire_release_p99_ms']:.3f} ms"
    )
    print(
        f"{'queued 4x overload':<20} wait p50 {figures['queued_wait_p50_ms']:.0f} ms, p99 {figures['queued_wait_p99_ms']:.0f} ms"
        f" (ideal {figures['queued_wait_ideal_ms']:.0f} ms); {figures['queued_gateway_rps']:.1f} req/s vs direct"
        f" {figures['queued_direct_rps']:.1f} (ratio {figures['queued_throughput_ratio']:.3f}); lost {figures['queued_lost']:.0f}"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
