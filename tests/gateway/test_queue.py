"""The queue in front of a model's concurrency limit, through the live gateway.

The upstream is ``tests.fakes.metered``: it counts the requests it works on at every instant
(a request whose connection the gateway closed stops counting at once) and records the
order they reached it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from runtimes.leases import Leases, queue_keys
from tests.fakes.metered import Meter, MeteredRuntime
from tests.gateway.conftest import llm_document, post

pytestmark = pytest.mark.slow


@pytest.fixture
def metered() -> Iterator[MeteredRuntime]:
    runtime = MeteredRuntime(Meter())
    yield runtime
    runtime.stop()


def chat_body(model: str, label: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": label}], **extra}


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def queued(redis_client: Any, asset_id: str) -> int:
    return int(redis_client.zcard(queue_keys(asset_id)[1]))


def _in_line(metered: MeteredRuntime, redis_client: Any, asset_id: str, n: int) -> bool:
    """``n`` requests are upstream or waiting in line."""
    return metered.meter.inflight + queued(redis_client, asset_id) == n


def settled(redis_client: Any, asset_id: str) -> bool:
    """No slot held and nobody waiting."""
    return (
        Leases(redis_client).active_counts([asset_id])[asset_id] == 0 and queued(redis_client, asset_id) == 0
    )


def burst(
    hub: Any, token: str, model: str, n: int, abort: Callable[[int], float | None], head_start: int = 0
) -> list[int | None]:
    """``n`` concurrent chats; client ``i`` gives up after ``abort(i)`` seconds (None: never);
    the first ``head_start`` clients go 0.3 s before the others. Answers each status, None for a
    client that gave up."""

    async def run() -> list[int | None]:
        limits = httpx.Limits(max_connections=n + 10)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:

            async def one(i: int) -> int | None:
                if i >= head_start > 0:
                    await asyncio.sleep(0.3)
                request = client.post(
                    hub.url + "/v1/chat/completions",
                    json=chat_body(model, f"r{i}"),
                    headers={"Authorization": f"Bearer {token}"},
                )
                give_up = abort(i)
                if give_up is None:
                    return (await request).status_code
                try:
                    return (await asyncio.wait_for(request, give_up)).status_code
                except TimeoutError:
                    return None

            return list(await asyncio.gather(*(one(i) for i in range(n))))

    return asyncio.run(run())


def test_200_clients_wait_in_line_and_never_more_than_3_run_upstream(
    hub: Any, metered: MeteredRuntime, make_live: Any, make_token: Any, redis_client: Any
) -> None:
    policy = {"max_concurrency": 3, "max_queue": 200, "queue_timeout_s": 120}
    make_live(llm_document("q-200", metered.url, policy=policy))
    metered.meter.delay = 0.02
    statuses = burst(hub, make_token(), "q-200", 200, lambda i: None)
    assert statuses == [200] * 200
    assert metered.meter.served == 200
    assert 1 <= metered.meter.max_inflight <= 3
    wait_for(lambda: settled(redis_client, "q-200"))


def test_clients_that_give_up_never_let_more_than_3_run_upstream(
    hub: Any, metered: MeteredRuntime, make_live: Any, make_token: Any, redis_client: Any
) -> None:
    policy = {"max_concurrency": 3, "max_queue": 200, "queue_timeout_s": 120}
    make_live(llm_document("q-abort", metered.url, policy=policy))
    metered.meter.delay = 0.2
    rng = random.Random(14)
    patience = {i: rng.uniform(0.05, 3.0) for i in range(200) if i % 3 == 0}
    # The first three run upstream at once and give up there; a third of the rest give up in
    # line or upstream, wherever their patience ends.
    patience.update({0: 1.0, 1: 1.0, 2: 1.0})
    metered.meter.delays = {"r0": 3.0, "r1": 3.0, "r2": 3.0}
    statuses = burst(hub, make_token(), "q-abort", 200, patience.get, head_start=3)
    kept = [s for i, s in enumerate(statuses) if i not in patience]
    assert kept == [200] * len(kept)
    assert metered.meter.max_inflight <= 3
    assert metered.meter.aborted >= 3  # those that gave up upstream were cancelled there
    wait_for(lambda: settled(redis_client, "q-abort"))


def test_requests_are_served_in_arrival_order(
    hub: Any, metered: MeteredRuntime, make_live: Any, make_token: Any, redis_client: Any
) -> None:
    make_live(llm_document("q-order", metered.url, policy={"max_concurrency": 3, "max_queue": 40}))
    gate = threading.Event()
    metered.meter.gate, metered.meter.delay = gate, 0.01
    token = make_token()
    answers: dict[int, int] = {}

    def send(i: int) -> None:
        answers[i] = post(hub, "/v1/chat/completions", token, chat_body("q-order", f"{i}")).status_code

    threads = []
    for i in range(30):  # one at a time: each is in line (or upstream) before the next is sent
        thread = threading.Thread(target=send, args=(i,))
        thread.start()
        threads.append(thread)
        wait_for(functools.partial(_in_line, metered, redis_client, "q-order", i + 1))
    gate.set()
    for thread in threads:
        thread.join(30)
    assert answers == dict.fromkeys(range(30), 200)
    order = [int(label) for label in metered.meter.arrivals]
    assert sorted(order) == list(range(30))
    # Slots are granted first come first served; between its grant and its arrival upstream a
    # request can be overtaken only by the others holding a slot at the same time.
    assert all(abs(position - i) < 3 for position, i in enumerate(order)), order


def test_429_only_when_the_queue_is_full_and_503_when_the_wait_runs_out(
    hub: Any, metered: MeteredRuntime, make_live: Any, make_token: Any, redis_client: Any
) -> None:
    policy = {"max_concurrency": 1, "max_queue": 2, "queue_timeout_s": 2}
    make_live(llm_document("q-bound", metered.url, policy=policy))
    gate = threading.Event()
    metered.meter.gate = gate
    token = make_token()
    answers: list[httpx.Response] = []
    threads = [
        threading.Thread(
            target=lambda i=i: answers.append(
                post(hub, "/v1/chat/completions", token, chat_body("q-bound", f"{i}"))
            )
        )
        for i in range(3)
    ]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    wait_for(lambda: metered.meter.inflight == 1 and queued(redis_client, "q-bound") == 2)
    full = post(hub, "/v1/chat/completions", token, chat_body("q-bound", "over"))
    assert full.status_code == 429, full.text
    assert full.json()["error"]["code"] == "concurrency_limit"
    assert 1 <= int(full.headers["retry-after"]) <= 10  # from service times, not the lease lifetime
    for thread in threads:  # the one upstream is held: both waiting requests run out of time
        thread.join(10)
    timed_out = [r for r in answers if r.status_code == 503]
    assert len(timed_out) == 2
    assert all(r.json()["error"]["code"] == "queue_timeout" for r in timed_out)
    assert all(int(r.headers["retry-after"]) >= 1 for r in timed_out)
    gate.set()
    wait_for(lambda: len(answers) == 3 and settled(redis_client, "q-bound"))
    assert sorted(r.status_code for r in answers) == [200, 503, 503]


def hold_the_slot(hub: Any, llama: Any, model: str, token: str) -> tuple[threading.Event, threading.Thread]:
    """A request that holds ``model``'s one slot (its runtime waits for the gate) in a thread."""
    gate = threading.Event()
    llama.state.gate = gate
    holder = threading.Thread(
        target=post, args=(hub, "/v1/chat/completions", token, chat_body(model, "first"))
    )
    holder.start()
    wait_for(lambda: llama.state.inflight == 1)
    return gate, holder


def test_a_streamed_request_that_waits_gets_sse_comments_then_its_answer(
    hub: Any, llama: Any, make_live: Any, make_token: Any, monkeypatch: Any, redis_client: Any
) -> None:
    from runtimes.gateway import gateway

    monkeypatch.setattr(gateway, "_config", dataclasses.replace(gateway.config, queue_keepalive_s=0.1))
    make_live(llm_document("q-sse", llama.url, policy={"max_concurrency": 1}))
    token = make_token()
    gate, holder = hold_the_slot(hub, llama, "q-sse", token)
    body = chat_body("q-sse", "second", stream=True, max_tokens=2)
    with httpx.stream(
        "POST",
        hub.url + "/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        first = next(lines)
        assert first.startswith(": waiting for a slot")
        gate.set()
        rest = list(lines)
    holder.join(10)
    events = [line for line in rest if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    assert any('"q-sse"' in line for line in events)
    wait_for(lambda: settled(redis_client, "q-sse"))


def test_a_waiting_streams_comments_follow_its_place_in_line(
    hub: Any, llama: Any, make_live: Any, make_token: Any, monkeypatch: Any, redis_client: Any
) -> None:
    from runtimes.gateway import gateway

    monkeypatch.setattr(gateway, "_config", dataclasses.replace(gateway.config, queue_keepalive_s=0.1))
    monkeypatch.setattr(gateway.queue, "poll_s", 0.05)
    make_live(llm_document("q-place", llama.url, policy={"max_concurrency": 1}))
    token = make_token()
    gate, holder = hold_the_slot(hub, llama, "q-place", token)
    headers = {"Authorization": f"Bearer {token}"}
    url = hub.url + "/v1/chat/completions"
    with httpx.Client(timeout=30) as client:
        ahead = client.stream("POST", url, json=chat_body("q-place", "a", stream=True), headers=headers)
        lines_ahead = (line for line in ahead.__enter__().iter_lines() if line)
        assert next(lines_ahead) == ": waiting for a slot (1 in line)"
        with client.stream(
            "POST", url, json=chat_body("q-place", "b", stream=True, max_tokens=2), headers=headers
        ) as behind:
            lines = (line for line in behind.iter_lines() if line)
            assert next(lines) == ": waiting for a slot (2 in line)"
            ahead.__exit__(None, None, None)  # the one ahead gives up: this one is next
            wait_for(lambda: queued(redis_client, "q-place") == 1)
            comment = next(line for line in lines if line != ": waiting for a slot (2 in line)")
            assert comment == ": waiting for a slot (1 in line)"
            gate.set()
            rest = list(lines)
    holder.join(10)
    assert [line for line in rest if line.startswith("data: ")][-1] == "data: [DONE]"
    wait_for(lambda: settled(redis_client, "q-place"))
