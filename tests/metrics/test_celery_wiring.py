"""A real Celery worker and beat: heartbeats, the rollup task, and the request id in JSON logs."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from core.context import request_id_var
from runtimes.metrics import heartbeat
from runtimes.metrics.tasks import aggregate_usage
from runtimes.models import UsageTotal
from runtimes.usage import UsageEvent, publish
from tests.conftest import child_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _env() -> dict[str, str]:
    return child_env(LOG_FORMAT="json", PYTHONUNBUFFERED="1")


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def worker(redis_client: Redis, tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    queue = f"metrics-test-{uuid.uuid4().hex[:8]}"
    name = f"{queue}@{socket.gethostname()}"
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "hub", "worker", "-P", "solo", "-Q", queue, "-n", name,
             "--loglevel", "INFO", "--without-mingle", "--without-gossip", "--without-heartbeat"],
            env=_env(), stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            yield queue, name, log_path
        finally:
            _stop(proc)


def test_it_carries_the_request_id_into_the_task_and_its_json_logs(
    redis_client: Redis, worker: tuple[str, str, Path]
) -> None:
    queue, name, log_path = worker
    workers = wait_for(lambda: heartbeat.last_seen(redis_client)[0], "the worker's first heartbeat")
    assert name in workers
    publish(redis_client, [UsageEvent("qwen", "llm-runtime", time.time(), 12.0, 200, 3, 4)])

    token = request_id_var.set("req-metrics-42")
    try:
        aggregate_usage.apply_async(queue=queue)
    finally:
        request_id_var.reset(token)

    wait_for(lambda: UsageTotal.objects.filter(asset_id="qwen", requests=1).exists(), "the rollup")

    def aggregated_line() -> dict[str, Any] | None:
        for line in log_path.read_text(errors="replace").splitlines():
            if line.startswith("{") and "usage aggregated" in line:
                return dict(json.loads(line))
        return None

    entry = wait_for(aggregated_line, "the task's log line")
    assert entry["request_id"] == "req-metrics-42"
    assert entry["task"] == "runtimes.aggregate_usage"
    assert entry["level"] == "INFO"
    assert entry["logger"] == "runtimes.metrics.tasks"
    assert entry["time"].endswith("+00:00")


def test_it_records_beat_liveness_when_beat_publishes(redis_client: Redis, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "hub", "beat", "--loglevel", "INFO",
         "--schedule", str(tmp_path / "schedule")],
        env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        beat = wait_for(lambda: heartbeat.last_seen(redis_client)[1], "beat's heartbeat")
    finally:
        _stop(proc)

    assert time.time() - beat < heartbeat.STALE_AFTER_S
