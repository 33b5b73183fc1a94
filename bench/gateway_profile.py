"""Profile the gateway's hot path: the bench's rig (canned nginx upstream, hub in one
process), chat load at one concurrency (wrk; streams: aiohttp), and py-spy sampling the hub
meanwhile.

Usage: ``DATABASE_URL=… REDIS_URL=… uv run python bench/gateway_profile.py [--concurrency 32]
[--seconds 15] [--out var/profile]``; needs ``py-spy`` on PATH (``uv tool install py-spy``).
Writes ``<out>.txt`` (collapsed stacks, for flame graphs) and prints the functions with the
most samples, their own and with what they call; the last line is one JSON object with the
run's figures (CPU per request while sampled: py-spy's reads cost the hub a little).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
os.environ.setdefault("HUB_DEV", "1")

from bench import canned  # noqa: E402
from bench import gateway_rig as rig  # noqa: E402
from bench.gateway import chat_job, drive  # noqa: E402
from bench.loadgen import LoadPool, user_system_ns  # noqa: E402


def summarize(collapsed: Path, top: int) -> None:
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        samples += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    print(f"{samples} samples")
    print("own time:")
    for frame, n in own.most_common(top):
        print(f"  {100 * n / samples:5.1f}%  {frame}")
    print("with callees:")
    for frame, n in total.most_common(top):
        print(f"  {100 * n / samples:5.1f}%  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--out", default="var/profile")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    spy = shutil.which("py-spy")
    if spy is None:
        sys.exit("py-spy is not on PATH: uv tool install py-spy")
    ports = rig.Ports(0)
    fake_port, sse_port, hub_port = ports.take(), ports.take(), ports.take()
    fake, nginx_dir = canned.start(fake_port, sse_port)
    hub = None
    try:
        fake_url, hub_url = f"http://127.0.0.1:{fake_port}", f"http://127.0.0.1:{hub_port}"
        sse_url = f"http://127.0.0.1:{sse_port}"
        rig.wait_http(fake_url + "/health", proc=fake)
        token = rig.setup_catalog(fake_url, fake_url, sse_url)
        hub = rig.start_hub(hub_port)
        rig.wait_http(hub_url + "/api/v1/ping", proc=hub)
        auth = {"Authorization": f"Bearer {token}"}
        target = rig.Target("gateway", hub_url, rig.ASSET, hub.pid, auth, stream_model=rig.STREAM_ASSET)
        out = Path(args.out).with_suffix(".txt")
        out.parent.mkdir(parents=True, exist_ok=True)
        with LoadPool(2) as pool:
            drive(pool, chat_job(target, 32, 1.0, stream=args.stream))
            record = subprocess.Popen(
                [
                    spy,
                    "record",
                    "-p",
                    str(hub.pid),
                    "-f",
                    "raw",
                    "-o",
                    str(out),
                    "-d",
                    str(int(args.seconds)),
                    "-r",
                    "500",
                    "--nonblocking",
                    "--gil",
                ],
                stdout=subprocess.DEVNULL,
            )
            before = user_system_ns(hub.pid)
            result = drive(pool, chat_job(target, args.concurrency, args.seconds + 1, stream=args.stream))
            after = user_system_ns(hub.pid)
            record.wait()
        summarize(out, args.top)
        user, system = ((b - a) / result.requests / 1000 for a, b in zip(before, after, strict=True))
        print(
            f"{result.requests} requests, {result.rps:.0f}/s; hub CPU per request: user {user:.0f} us, "
            f"system {system:.0f} us (while sampled)"
        )
    finally:
        for proc in (hub, fake):
            rig.stop(proc)
        shutil.rmtree(nginx_dir, ignore_errors=True)
    figures = {
        "concurrency": args.concurrency,
        "requests": result.requests,
        "rps": round(result.rps, 1),
        "user_cpu_us_per_request": round(user, 1),
        "system_cpu_us_per_request": round(system, 1),
        "profile": str(out),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
