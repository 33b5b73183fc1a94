"""What keeps ``manage.py up``'s children running: restart one that dies, with backoff.

Each child runs in its own session (Ctrl-C in the terminal reaches only ``up``, which stops
the children in order). A child that exits is logged with its status and started again after
1 s, 2 s, 4 s … up to 30 s; a run that lasted a minute resets the backoff. Stopping sends
SIGTERM to every child, then SIGKILL to the process group of any still there after the grace
period (at once on a second Ctrl-C).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("hub.up")


@dataclass
class _Child:
    name: str
    command: list[str]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0  # exits in a row, each after a short run
    restart_at: float | None = None


@dataclass
class Supervisor:
    commands: dict[str, list[str]]
    env: dict[str, str]
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 30.0
    stable_after_s: float = 60.0
    grace_s: float = 10.0
    poll_s: float = 0.2
    stopping: bool = False
    hurry: bool = False
    stop_requested_at: float | None = None
    clock: Callable[[], float] = time.monotonic
    children: dict[str, _Child] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.children = {name: _Child(name, command) for name, command in self.commands.items()}

    def request_stop(self, signum: int, frame: object) -> None:
        """Signal handler: the first stops gracefully, a second one kills at once.

        A signal within a second of the first is the same request delivered twice (a
        terminal's Ctrl-C reaches both ``uv run`` and this process, and uv may pass it on).
        """
        now = self.clock()
        if self.stop_requested_at is None:
            self.stop_requested_at = now
        elif now - self.stop_requested_at >= 1.0:
            self.hurry = True
        self.stopping = True

    def start(self) -> None:
        for child in self.children.values():
            self._spawn(child)

    def run_until_stopped(self) -> None:
        """Tend the children (restart the dead ones) until a signal asks to stop; then stop them."""
        try:
            while not self.stopping:
                time.sleep(self.poll_s)
                self.tend(time.monotonic())
        finally:
            self.stop()

    def tend(self, now: float) -> None:
        for child in self.children.values():
            if child.proc is not None and child.proc.poll() is not None:
                self._exited(child, now)
            elif child.proc is None and child.restart_at is not None and now >= child.restart_at:
                self._spawn(child)
                log.info("%s restarted (pid %d)", child.name, child.proc.pid if child.proc else 0)

    def stop(self) -> None:
        running = [c for c in self.children.values() if c.proc is not None]
        for child in running:
            assert child.proc is not None
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGKILL if self.hurry else signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        for child in running:
            assert child.proc is not None
            while child.proc.poll() is None and time.monotonic() < deadline and not self.hurry:
                time.sleep(0.05)  # a second Ctrl-C (``hurry``) ends the wait
            if child.proc.poll() is None:
                log.warning("%s did not stop in time; killing it", child.name)
            _kill_group(child.proc.pid)  # the leader's workers too (a Celery pool), dead leader or not
            child.proc.wait()
        for child in self.children.values():
            child.proc = None

    def _spawn(self, child: _Child) -> None:
        child.proc = subprocess.Popen(child.command, env=self.env, start_new_session=True)
        child.started_at = time.monotonic()
        child.restart_at = None

    def _exited(self, child: _Child, now: float) -> None:
        assert child.proc is not None
        status, pid = child.proc.returncode, child.proc.pid
        _kill_group(pid)  # what it leaves behind must not serve beside its replacement
        lived = now - child.started_at
        child.failures = 1 if lived >= self.stable_after_s else child.failures + 1
        delay = min(self.backoff_cap_s, self.backoff_base_s * 2 ** (child.failures - 1))
        child.proc, child.restart_at = None, now + delay
        log.warning(
            "%s (pid %d) exited %s after %.0fs; restarting in %.1fs",
            child.name,
            pid,
            _describe(status),
            lived,
            delay,
        )


def _describe(status: int) -> str:
    if status < 0:
        with contextlib.suppress(ValueError):
            return f"on {signal.Signals(-status).name}"
    return f"with status {status}"


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
