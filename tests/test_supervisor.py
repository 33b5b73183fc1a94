"""`up`'s supervisor: a child that dies comes back after a growing pause; stop leaves nothing."""

from __future__ import annotations

import logging
import os
import re
import sys
import time

import pytest

from models_admin.management.commands._supervisor import Supervisor

IGNORES_SIGTERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"


def supervise_until(supervisor: Supervisor, caplog: pytest.LogCaptureFixture, exits: int) -> list[float]:
    """Tend until ``exits`` exits are logged; return the restart delays they announced."""
    deadline = time.monotonic() + 30
    delays: list[float] = []
    while len(delays) < exits and time.monotonic() < deadline:
        supervisor.tend(time.monotonic())
        delays = [float(d) for d in re.findall(r"restarting in ([\d.]+)s", caplog.text)]
        time.sleep(0.01)
    return delays


def test_a_child_that_keeps_dying_is_restarted_with_growing_backoff(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hub.up")
    supervisor = Supervisor(
        {"dies": [sys.executable, "-c", "raise SystemExit(3)"]},
        dict(os.environ),
        backoff_base_s=0.1,
        backoff_cap_s=0.4,
    )
    supervisor.start()
    try:
        delays = supervise_until(supervisor, caplog, 4)
    finally:
        supervisor.stop()
    assert delays[:4] == [0.1, 0.2, 0.4, 0.4]
    assert "dies (pid" in caplog.text
    assert "exited with status 3" in caplog.text
    assert caplog.text.count("dies restarted") >= 3


def test_a_run_that_lasted_resets_the_backoff(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hub.up")
    supervisor = Supervisor(
        {"lives-a-while": [sys.executable, "-c", "import time; time.sleep(0.3)"]},
        dict(os.environ),
        backoff_base_s=0.1,
        stable_after_s=0.2,
    )
    supervisor.start()
    try:
        delays = supervise_until(supervisor, caplog, 3)
    finally:
        supervisor.stop()
    assert delays[:3] == [0.1, 0.1, 0.1]


def test_stop_kills_a_child_that_ignores_sigterm_after_the_grace_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor = Supervisor(
        {"stubborn": [sys.executable, "-c", IGNORES_SIGTERM]}, dict(os.environ), grace_s=0.5
    )
    supervisor.start()
    child = supervisor.children["stubborn"].proc
    assert child is not None
    time.sleep(0.3)  # let it install its handler
    began = time.monotonic()
    supervisor.stop()
    assert child.returncode == -9
    assert time.monotonic() - began < 5
    assert "stubborn did not stop in time; killing it" in caplog.text


def test_one_ctrl_c_delivered_twice_stops_gracefully_and_a_later_second_one_hurries() -> None:
    ticks = iter([100.0, 100.2, 103.0])
    supervisor = Supervisor({}, {}, clock=lambda: next(ticks))
    supervisor.request_stop(2, None)
    supervisor.request_stop(2, None)  # the same Ctrl-C, through `uv run` as well
    assert supervisor.stopping
    assert not supervisor.hurry
    supervisor.request_stop(2, None)  # three seconds later: the operator means it
    assert supervisor.hurry
