"""Closed-loop HTTP load from ``wrk`` (Debian's package ``wrk``): a C generator that spends a
few microseconds per request, so what it measures is the server, not itself.

``run(job)`` takes a :class:`bench.loadgen.Job` (non-streamed: wrk times whole answers) and
answers a :class:`bench.loadgen.Result` with p50/p99 from wrk's own histogram (microsecond
resolution), throughput, errors (connect, read, write, timeouts and non-2xx answers) and wrk's
CPU per request.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.loadgen import Job, Result

MARK = "WRK_JSON "

# The request, and one JSON line with the figures once the run is over (``done`` runs after
# every thread has stopped). Long-bracket strings hold the body and headers verbatim.
SCRIPT = """
wrk.method = [==[{method}]==]
wrk.body = [==[{body}]==]
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{mark}{{"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %d, "p99_us": %d}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def available() -> bool:
    return shutil.which("wrk") is not None


def script(job: Job) -> str:
    headers = {"Content-Type": "application/json", **job.headers}
    lines = "\n".join(f"wrk.headers[ [==[{k}]==] ] = [==[{v}]==]" for k, v in headers.items())
    body = job.body.decode()
    for text in (body, *headers.values()):
        if "]==]" in text:
            raise ValueError("the request holds ]==], which ends a Lua long string")
    return SCRIPT.format(method=job.method, body=body, headers=lines, mark=MARK)


def run(job: Job) -> Result:
    """``job.concurrency`` connections, each sending one request after another for
    ``job.seconds`` (whole seconds, at least one: wrk takes no fractions), on two threads once
    there is more than one connection."""
    if job.stream:
        raise ValueError("wrk times whole answers: use bench.loadgen for streams")
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not on PATH (apt-get install wrk)")
    threads = 1 if job.concurrency == 1 else 2
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        lua = Path(tmp) / "job.lua"
        lua.write_text(script(job))
        args = [
            wrk,
            f"-t{threads}",
            f"-c{job.concurrency}",
            f"-d{max(1, round(job.seconds))}s",
            "--timeout",
            "30s",
        ]
        proc = subprocess.Popen([*args, "-s", str(lua), job.url], stdout=subprocess.PIPE, text=True)
        out = proc.stdout.read() if proc.stdout else ""  # a few lines: the pipe never fills
        _, status, usage = os.wait4(proc.pid, 0)  # its own CPU, from the kernel at exit
        proc.returncode = os.waitstatus_to_exitcode(status)
    cpu_us = (usage.ru_utime + usage.ru_stime) * 1e6
    line = next((x for x in out.splitlines() if x.startswith(MARK)), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {out.strip()[-500:]}")
    figures = json.loads(line.removeprefix(MARK))
    requests = int(figures["requests"])
    seconds = figures["duration_us"] / 1e6
    return Result(
        latencies_ms=[],  # wrk keeps its histogram: only the percentiles below come out
        rps=requests / seconds if seconds > 0 else 0.0,
        errors=int(figures["errors"]),
        requests=requests,
        generator_cpu_us_per_request=cpu_us / max(1, requests),
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
    )
