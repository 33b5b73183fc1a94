"""The queue across gateway processes: one line per model in Redis, and slots that die with
their process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from redis.asyncio import Redis as AsyncRedis

from runtimes.gateway.batch import Batcher
from runtimes.gateway.queue import Limits, Queue, Slot
from runtimes.gateway.resp import RespClient
from runtimes.leases import Leases, queue_keys
from tests.conftest import child_env
from tests.fakes.metered import Meter, MeteredRuntime
from tests.gateway.conftest import free_port, llm_document, post
from tests.gateway.test_queue import chat_body, queued, wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_two_processes_share_one_first_come_first_served_line(redis_client: Any) -> None:
    """Two gateway processes' queues (each its own Redis connections): grants follow arrival."""

    async def scenario() -> list[int]:
        processes = []
        for _ in range(2):
            client, resp = AsyncRedis.from_url(settings.REDIS_URL), RespClient(settings.REDIS_URL)
            batcher = Batcher(resp)
            queue = Queue(client, resp, batcher, ttl_s=8, heartbeat_s=2, poll_s=0.5)
            queue.start()
            processes.append((client, resp, batcher, queue))
        limits = Limits(max_concurrency=1, max_queue=20, queue_timeout_s=30)
        first, second = processes[0][3], processes[1][3]
        holder = await first.admit("line", limits, on_wait=None, keepalive_s=5)
        order: list[int] = []

        async def wait_in_line(queue: Queue, i: int) -> None:
            slot: Slot = await queue.admit("line", limits, on_wait=None, keepalive_s=5)
            order.append(i)
            await asyncio.sleep(0.01)
            queue.release(slot, 0.01)

        waiters = []
        for i in range(10):
            waiters.append(asyncio.ensure_future(wait_in_line(second if i % 2 else first, i)))
            while int(await first.redis.zcard(queue_keys("line")[1])) < i + 1:
                await asyncio.sleep(0.005)
        first.release(holder, 0.01)
        await asyncio.wait_for(asyncio.gather(*waiters), 30)
        for client, resp, batcher, queue in processes:
            await queue.stop()
            await batcher.stop()
            await resp.aclose()
            await client.aclose()
        return order

    assert asyncio.run(scenario()) == list(range(10))
    assert Leases(redis_client).active_counts(["line"]) == {"line": 0}


@pytest.fixture
def metered() -> Iterator[MeteredRuntime]:
    runtime = MeteredRuntime(Meter())
    yield runtime
    runtime.stop()


def test_a_killed_gateway_process_frees_its_slots_within_10_seconds(
    hub: Any, metered: MeteredRuntime, make_live: Any, make_token: Any, redis_client: Any
) -> None:
    make_live(llm_document("q-killed", metered.url, policy={"max_concurrency": 2, "max_queue": 4}))
    gate = threading.Event()
    metered.meter.gate = gate
    token = make_token()
    port = free_port()
    other = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "hub.asgi:application", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(url + "/v1/models"), timeout=60)

        def through_other(label: str) -> None:
            with contextlib.suppress(httpx.TransportError):  # the process is killed under it
                httpx.post(
                    url + "/v1/chat/completions",
                    json=chat_body("q-killed", label),
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=60,
                )

        for label in ("a", "b", "c"):  # two take the slots, one waits in line
            threading.Thread(target=through_other, args=(label,), daemon=True).start()
        wait_for(lambda: metered.meter.inflight == 2 and queued(redis_client, "q-killed") == 1, timeout=30)
        os.kill(other.pid, signal.SIGKILL)
        killed = time.monotonic()
        other.wait(10)
    finally:
        if other.poll() is None:
            other.kill()
            other.wait(10)
    gate.set()
    # This process's request waits in line until the dead process's slots and place lapse.
    answer = post(hub, "/v1/chat/completions", token, chat_body("q-killed", "after"))
    freed_after = time.monotonic() - killed
    assert answer.status_code == 200, answer.text
    assert freed_after <= 10, freed_after
    assert metered.meter.arrivals[-1] == "after"


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.TransportError:
        return False
    return True
