"""A load generator for the benches that does not become the thing it measures.

``LoadPool`` keeps a few worker processes (``multiprocessing`` spawn: they import aiohttp and
uvloop only, no Django), each running an aiohttp client on uvloop. A ``Job`` is split over
them: ``concurrency`` closed-loop clients in all, each sending one request after another
until ``seconds`` have passed. Each process answers its latencies (ms; for a stream, the
time to the first content chunk) and the monotonic start/end of its part; throughput is
answers over the span of all parts. The pool also reports its own CPU time per request,
so a run shows how far the generator is from being the bottleneck.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import uvloop


@dataclass
class Job:
    url: str  # full URL, e.g. http://127.0.0.1:8000/v1/chat/completions
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"
    concurrency: int = 1
    seconds: float = 2.0
    stream: bool = False  # measure time to the first chunk holding b'"content"'
    fresh_connection: bool = False  # a new TCP connection per request (the idle path)


@dataclass
class Result:
    latencies_ms: list[float]
    rps: float
    errors: int
    requests: int  # all answered, the warm-up's included: what the CPU figures divide by
    generator_cpu_us_per_request: float
    p50_ms: float = 0.0
    p99_ms: float = 0.0


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else 0.0


TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def user_system_ns(pid: int) -> tuple[int, int]:
    """User and system CPU time the process has run so far (ns), from ``/proc/<pid>/stat``,
    which counts the threads that have already exited too (a threaded server's per-connection
    threads do; per-thread ``schedstat`` would lose them). Resolution: one clock tick; (0, 0)
    once the process is gone."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return int(fields[11]) * TICK_NS, int(fields[12]) * TICK_NS  # utime, stime
    return 0, 0


def cpu_ns(pid: int) -> int:
    """CPU time the process has run so far (ns): user + system."""
    return sum(user_system_ns(pid))


def tree_cpu_ns(pid: int) -> int:
    """CPU time of the process and all its descendants (a launcher such as ``uvx`` runs the
    server as its child)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += cpu_ns(current)
        todo.extend(children.get(current, []))
    return total


async def _run_part(job: Job, clients: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=0, force_close=job.fresh_connection)
    timeout = aiohttp.ClientTimeout(total=300)
    headers = {"Content-Type": "application/json", **job.headers}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def once() -> float | None:
            start = time.perf_counter()
            async with session.request(job.method, job.url, data=job.body, headers=headers) as r:
                if r.status != 200:
                    await r.read()
                    return None
                if not job.stream:
                    await r.read()
                    return (time.perf_counter() - start) * 1000
                first: float | None = None
                async for chunk in r.content.iter_any():
                    if first is None and b'"content"' in chunk:
                        first = time.perf_counter()
                return ((first or time.perf_counter()) - start) * 1000

        await asyncio.gather(*(once() for _ in range(clients)))  # open the connections
        deadline = time.monotonic() + job.seconds

        async def client() -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                got = await once()
                if got is None:
                    errors += 1
                else:
                    latencies.append(got)

        start = time.monotonic()
        await asyncio.gather(*(client() for _ in range(clients)))
        end = time.monotonic()
    return {"latencies": latencies, "errors": errors, "warm": clients, "start": start, "end": end}


def _worker(conn: Connection) -> None:
    while True:
        message = conn.recv()
        if message is None:
            return
        job, clients = message
        conn.send(uvloop.run(_run_part(job, clients)))


class LoadPool:
    def __init__(self, processes: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conns: list[Connection] = []
        self.procs = []
        for _ in range(processes):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child,), daemon=True)
            proc.start()
            self.conns.append(parent)
            self.procs.append(proc)

    def run(self, job: Job) -> Result:
        used = min(len(self.procs), job.concurrency)
        shares = [job.concurrency // used + (1 if i < job.concurrency % used else 0) for i in range(used)]
        pids = [p.pid for p in self.procs[:used] if p.pid is not None]
        cpu_before = sum(cpu_ns(pid) for pid in pids)
        for conn, clients in zip(self.conns, shares, strict=False):
            conn.send((job, clients))
        parts = [conn.recv() for conn in self.conns[:used]]
        cpu = sum(cpu_ns(pid) for pid in pids) - cpu_before
        latencies = [x for part in parts for x in part["latencies"]]
        span = max(p["end"] for p in parts) - min(p["start"] for p in parts)
        requests = len(latencies) + sum(p["errors"] + p["warm"] for p in parts)
        return Result(
            latencies_ms=latencies,
            rps=len(latencies) / span if span > 0 else 0.0,
            errors=sum(p["errors"] for p in parts),
            requests=requests,
            generator_cpu_us_per_request=cpu / max(1, requests) / 1000,
            p50_ms=pct(latencies, 50),
            p99_ms=pct(latencies, 99),
        )

    def close(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.send(None)
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.terminate()

    def __enter__(self) -> LoadPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
