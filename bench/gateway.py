"""Gateway overhead, measured side by side in one run on this machine.

Needs ``wrk`` and ``nginx`` (``apt-get install wrk nginx-light``). Starts a canned
llama-server (``bench/canned.py``: nginx with a fixed answer, so the upstream is not what
saturates), a slow Python fake for the queue (``tests.fakes.llama_cpp``) and the hub
(``python -m hub.serve``: one process, and a second hub with ``--gateway-workers`` processes)
as subprocesses, registers approved, running assets behind them and an API token; with
``--peer litellm`` also LiteLLM's proxy (pinned, through ``uvx``: zero prices, no database,
one worker) in front of the same upstream. Whole answers are timed by ``wrk`` (C, a few
microseconds per request: ``bench/wrk.py``), streams by ``bench/loadgen.py`` (aiohttp on uvloop
in ``--processes`` processes, reading each chunk). The direct throughput must be >= 10x the
proxied one, else a warning and ``generator_bound: true``. Each measurement is repeated
``--repeat`` times, the targets taking turns, and reported as the median with its range
(min..max):

- latency at concurrency 1 and 32, non-streamed and streamed (time to first content chunk):
  p50 and p99 per target and what the gateway (and the peer) add to the direct figure;
- throughput per target at concurrency 1 and 32, and proxied / direct at 32;
- CPU microseconds per request of each process (``/proc/<pid>/stat``, children
  included): the hub, the upstream, the peer, the load generator (wrk's from its rusage);
  the figure that stays comparable when the shared machine is busy and latencies are not;
- the idle path: one request every ``--idle-period`` seconds per target (the targets offset
  from each other), each on a new connection: added latency after >= 5 s idle, and against
  the same requests 0.3 s apart (4x as many; a request that is not back-to-back pays the machine's
  wake-ups on every process it crosses, idle or not: that part is not an idle penalty);
- ``POST /api/v1/gateway/resolve`` throughput / a bare django-ninja endpoint's;
- lease acquire + release latency (one Lua call each) against Redis;
- the queue at 4x overload: a fake whose every answer takes ``--service-ms`` behind an asset
  with ``max_concurrency`` 4. Direct: 4 clients; through the gateway: 16, so 12 wait in line;
  the wait against the ideal (service time x its place in line / slots), the throughput
  against direct (target >= 0.95), and any request lost.

Usage: ``DATABASE_URL=… REDIS_URL=… uv run python bench/gateway.py [--repeat 3] [--peer litellm]``.
Prints a table, then one JSON object with the same figures as the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
from pathlib import Path

import aiohttp
import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
os.environ.setdefault("HUB_DEV", "1")  # a dev run on this machine: plain HTTP, a local secret key

from bench import canned, wrk  # noqa: E402
from bench import gateway_rig as rig  # noqa: E402
from bench.gateway_cases import CHAT, lease_latency, queued_case, resolve_case  # noqa: E402
from bench.gateway_report import Figures  # noqa: E402
from bench.loadgen import Job, LoadPool, Result, tree_cpu_ns  # noqa: E402

# The idle path's reference: the same requests a fraction of a second apart.
SPACED_S = 0.3


def chat_job(target: rig.Target, concurrency: int, seconds: float, stream: bool) -> Job:
    model = (target.stream_model or target.model) if stream else target.model
    body = json.dumps({"model": model, **CHAT, **({"stream": True} if stream else {})}).encode()
    url = ((target.stream_url or target.url) if stream else target.url) + "/v1/chat/completions"
    return Job(url, body, target.headers, concurrency=concurrency, seconds=seconds, stream=stream)


def drive(pool: LoadPool, job: Job) -> Result:
    """Whole answers from wrk; streams (time to the first content chunk) from the pool."""
    return pool.run(job) if job.stream else wrk.run(job)


def measure(
    pool: LoadPool, targets: list[rig.Target], upstream_pid: int, job_for: dict[str, Job], repeat: int
) -> dict[str, list[dict[str, float]]]:
    """Per target, one dict per repetition: p50/p99 (ms), req/s, CPU us per request of the
    target's process, of the upstream behind it and of the generator. Targets take turns,
    their order rotating so none always runs first."""
    runs: dict[str, list[dict[str, float]]] = {t.name: [] for t in targets}
    for r in range(repeat):
        for target in targets[r % len(targets) :] + targets[: r % len(targets)]:
            own0, up0 = tree_cpu_ns(target.pid), tree_cpu_ns(upstream_pid)
            res = drive(pool, job_for[target.name])
            time.sleep(0.2)  # let the post-response work (usage, lease release) finish
            own, up = tree_cpu_ns(target.pid) - own0, tree_cpu_ns(upstream_pid) - up0
            if res.errors or not res.requests:
                raise RuntimeError(f"{target.name}: {res.errors} errors, {res.requests} answers")
            runs[target.name].append(
                {
                    "p50": res.p50_ms,
                    "p99": res.p99_ms,
                    "rps": res.rps,
                    "cpu": own / res.requests / 1000,
                    "upstream_cpu": up / res.requests / 1000,
                    "generator_cpu": res.generator_cpu_us_per_request,
                }
            )
    return runs


async def idle_path(targets: list[rig.Target], requests: int, period: float) -> dict[str, list[float]]:
    """Each target gets one chat every ``period`` s on a new connection, the targets evenly
    offset, so each request finds its target idle for ``period`` s and the machine for
    ``period / len(targets)`` s. Milliseconds per request, per target."""
    out: dict[str, list[float]] = {t.name: [] for t in targets}
    start = time.monotonic() + period
    for i in range(requests):
        for j, target in enumerate(targets):
            await asyncio.sleep(max(0.0, start + i * period + j * period / len(targets) - time.monotonic()))
            job = chat_job(target, 1, 0, stream=False)
            headers = {"Content-Type": "application/json", **job.headers}
            connector = aiohttp.TCPConnector(force_close=True)
            async with aiohttp.ClientSession(connector=connector) as session:
                began = time.perf_counter()
                async with session.post(job.url, data=job.body, headers=headers) as r:
                    await r.read()
                    if r.status != 200:
                        raise RuntimeError(f"{target.name}: {r.status}")
                out[target.name].append((time.perf_counter() - began) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each measurement")
    parser.add_argument("--seconds", type=float, default=2.0, help="per target and repetition")
    parser.add_argument("--processes", type=int, default=max(2, os.cpu_count() or 2), help="load generator")
    parser.add_argument("--idle-requests", type=int, default=10, help="per target on the idle path")
    parser.add_argument("--idle-period", type=float, default=6.0, help="seconds between them per target")
    parser.add_argument("--peer", choices=["litellm"], default=None, help="a peer proxy in the same run")
    parser.add_argument("--peer-timeout", type=float, default=300.0, help="install + start, seconds")
    parser.add_argument("--port-base", type=int, default=0, help="first port to use (0: free ports)")
    parser.add_argument(
        "--gateway-workers", type=int, default=2, help="a second hub with this many processes (1: none)"
    )
    parser.add_argument("--service-ms", type=float, default=50.0, help="the queued case's upstream time")
    parser.add_argument("--queued-seconds", type=float, default=10.0, help="per side of the queued case")
    args = parser.parse_args()

    missing = [what for what, ok in (("wrk", wrk.available()), ("nginx", canned.available())) if not ok]
    if missing:
        sys.exit(f"bench/gateway.py needs {' and '.join(missing)}: apt-get install wrk nginx-light")
    ports = rig.Ports(args.port_base)
    fake_port, slow_port, hub_port, peer_port = ports.take(), ports.take(), ports.take(), ports.take()
    multi_port, sse_port = ports.take(), ports.take()
    fake, nginx_dir = canned.start(fake_port, sse_port)
    slow = rig.start_fake(slow_port, "slow.gguf", args.service_ms / 1000)
    fake_url, slow_url = f"http://127.0.0.1:{fake_port}", f"http://127.0.0.1:{slow_port}"
    sse_url, hub_url = f"http://127.0.0.1:{sse_port}", f"http://127.0.0.1:{hub_port}"
    hub = peer = multi = None
    peer_dir: Path | None = None
    figures = Figures()
    try:
        for url in (fake_url, sse_url, slow_url):
            rig.wait_http(url + "/health", proc=fake if url != slow_url else slow)
        token = rig.setup_catalog(fake_url, slow_url, sse_url)
        hub = rig.start_hub(hub_port)
        rig.wait_http(hub_url + "/api/v1/ping", proc=hub)
        auth = {"Authorization": f"Bearer {token}"}
        hub_models = {"model": rig.ASSET, "stream_model": rig.STREAM_ASSET}
        targets = [
            rig.Target("direct", fake_url, canned.MODEL, fake.pid, stream_url=sse_url),
            rig.Target("gateway", hub_url, pid=hub.pid, headers=auth, **hub_models),
        ]
        if args.gateway_workers > 1:  # the same hub in N processes (CPU: all of them)
            multi = rig.start_hub(multi_port, args.gateway_workers)
            multi_url = f"http://127.0.0.1:{multi_port}"
            rig.wait_http(multi_url + "/api/v1/ping", proc=multi)
            name = f"gateway_{args.gateway_workers}p"
            targets.append(rig.Target(name, multi_url, pid=multi.pid, headers=auth, **hub_models))
        if args.peer == "litellm":
            started = rig.start_litellm(peer_port, fake_url, args.peer_timeout, sse_url)
            if started is not None:
                peer, peer_dir = started
                headers = {"Authorization": f"Bearer {rig.LITELLM_KEY}"}
                peer_url = f"http://127.0.0.1:{peer_port}"
                targets.append(rig.Target("litellm", peer_url, pid=peer.pid, headers=headers, **hub_models))
        figures.peer = rig.LITELLM if peer is not None else None
        with LoadPool(args.processes) as pool:
            for target in targets:  # warm pools, caches and the generator's imports
                drive(pool, chat_job(target, 32, 1.0, stream=False))
                pool.run(chat_job(target, 32, 1.0, stream=True))
            for stream in (False, True):
                for c in (1, 32):
                    jobs = {t.name: chat_job(t, c, args.seconds, stream) for t in targets}
                    runs = measure(pool, targets, fake.pid, jobs, args.repeat)
                    figures.add_latency(runs, stream, c)
            figures.add_resolve(resolve_case(pool, hub_url, auth, args.seconds, args.repeat))
            figures.add_queued(
                queued_case(pool, slow_url, hub_url, auth, rig.QUEUED, args.queued_seconds, args.service_ms)
            )
        spaced = uvloop.run(idle_path(targets, max(10, 4 * args.idle_requests), SPACED_S))
        figures.add_idle(spaced, SPACED_S, "spaced")
        idle = uvloop.run(idle_path(targets, args.idle_requests, args.idle_period))
        figures.add_idle(idle, args.idle_period, "idle")
        figures.add_lease(lease_latency(2000))
    finally:
        for proc in (peer, multi, hub, fake, slow):
            rig.stop(proc)
        shutil.rmtree(nginx_dir, ignore_errors=True)
        if peer_dir is not None:  # its config and log (kept only when it failed to start)
            shutil.rmtree(peer_dir, ignore_errors=True)
    figures.print()


if __name__ == "__main__":
    main()
