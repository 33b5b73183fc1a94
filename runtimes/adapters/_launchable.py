"""Lifecycle shared by runtimes the hub can start as a process (vLLM, TEI, llama.cpp)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import httpx

from runtimes.adapters._http import HttpAdapter, poll_until
from runtimes.binding import RuntimeBinding
from runtimes.errors import UpstreamError
from runtimes.launcher import Launcher
from runtimes.protocols.managed import HealthReport, HealthState, ProcessHandle, RunningTarget


class LaunchableRuntime(HttpAdapter):
    """``ensure_running`` / ``stop`` for a runtime that may be a child process of the hub.

    With ``binding.launch`` the adapter starts the process through the launcher (or
    adopts ``handle``, e.g. after a hub restart); without it, ``base_url`` names a
    server that already runs and that the hub never stops.
    """

    launchable: ClassVar[bool] = True
    health_path: ClassVar[str] = "/health"
    external_ready_timeout_s: ClassVar[float] = 300.0
    launch_env: ClassVar[dict[str, str]] = {}
    """Variables a launched process of this kind always gets (the asset's ``launch.env`` wins)."""
    launch_flags: ClassVar[tuple[str, ...]] = ()
    """Flags a launched process of this kind always gets (added when the command lacks them)."""
    model_file_flags: ClassVar[tuple[str, ...]] = ()
    """Flags whose value is a weights file on the launching host; the launcher fails at once
    (not retried) when the last one names no file. Only where the value is always a path:
    vLLM's and TEI's model flags may name a hub repository instead."""

    def __init__(
        self,
        binding: RuntimeBinding,
        *,
        launcher: Launcher | None = None,
        handle: ProcessHandle | None = None,
        key: str | None = None,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 300.0,
    ) -> None:
        super().__init__(binding, connect_timeout_s=connect_timeout_s, read_timeout_s=read_timeout_s)
        self._launcher = launcher
        self.key = key or f"{self.kind}-{binding.model}"
        self.handle = handle
        if handle is not None:
            self._base_url = handle.base_url

    @staticmethod
    def listen_args(host: str, port: int) -> Sequence[str]:
        """The flags that make this runtime listen on ``host:port``."""
        return ["--host", host, "--port", str(port)]

    def check_launch(self, command: Sequence[str]) -> None:
        """Fail early, before spawning, when the command cannot work (e.g. no model file)."""

    def context_length(self) -> int | None:
        return None

    def wake(self) -> bool:
        """Bring a sleeping server back; True if it was asleep. Default: no sleep mode."""
        return False

    @property
    def launcher(self) -> Launcher:
        if self._launcher is None:
            self._launcher = Launcher()
        return self._launcher

    def is_ready(self) -> bool:
        return bool(self._base_url) and self._status(self.health_path) == 200

    def health(self) -> HealthReport:
        if not self._base_url:
            return HealthReport(HealthState.DOWN, "not started")
        if self.handle is not None and not self.launcher.is_alive(self.handle):
            return HealthReport(HealthState.DOWN, f"process {self.handle.pid} is gone")
        status = self._status(self.health_path)
        if status is None:
            return HealthReport(HealthState.DOWN, f"{self._base_url} unreachable")
        if status == 503:
            return HealthReport(HealthState.DOWN, "loading")
        if status != 200:
            return HealthReport(HealthState.DOWN, f"{self.health_path} answered {status}")
        return self.busy_or_ok()

    def busy_or_ok(self) -> HealthReport:
        """Called once the server is healthy: tell busy (all slots taken) from ok."""
        return HealthReport(HealthState.OK)

    def ensure_running(self) -> RunningTarget:
        launch = self.binding.launch
        if launch is None:
            return self._ensure_external()
        if self.handle is None:
            # Another adapter instance (or a previous hub run) may have started it already.
            recorded = self.launcher.recorded().get(self.key)
            if recorded is not None and self.launcher.is_alive(recorded):
                self.handle = recorded
                self._base_url = recorded.base_url
        if self.handle is not None and self.launcher.is_alive(self.handle):
            woke = self.wake()
            if not self.is_ready():
                self.launcher.wait_ready(self.handle, self.is_ready, timeout_s=launch.ready_timeout_s)
            return self._target(just_started=woke)
        self.check_launch(launch.command)
        command = [*launch.command, *(flag for flag in self.launch_flags if flag not in launch.command)]
        self.handle = self.launcher.start(
            self.key,
            command,
            listen_args=self.listen_args,
            env={**self.launch_env, **(launch.env or {})},
            model_file_flags=self.model_file_flags,
        )
        self._base_url = self.handle.base_url
        self.launcher.wait_ready(self.handle, self.is_ready, timeout_s=launch.ready_timeout_s)
        return self._target(just_started=True)

    def _ensure_external(self) -> RunningTarget:
        status = self._status(self.health_path)
        if status is None:
            raise UpstreamError(f"{self.kind} at {self._base_url or '?'} is unreachable")
        woke = self.wake()
        if not self.is_ready():
            # Reachable but loading: wait for it like for a process we started.
            poll_until(self.is_ready, timeout_s=self.external_ready_timeout_s, what=self._base_url)
        return self._target(just_started=woke)

    def _target(self, *, just_started: bool) -> RunningTarget:
        return RunningTarget(
            base_url=self._base_url,
            model=self.binding.model,
            context_length=self.context_length(),
            just_started=just_started,
            handle=self.handle,
        )

    def stop(self) -> None:
        if self.handle is not None:
            self.launcher.stop(self.handle)
            self.handle = None
            self._client.close()  # drop pooled connections to the dead port
            self._client = self._fresh_client()

    def sleep(self) -> None:
        """No sleep mode by default: stopping the process is what frees its memory."""
        self.stop()

    def sleep_in_place(self) -> bool:
        """Put a running process to sleep, keeping it (and its port); False if this kind (or
        this server) has no sleep mode, and the caller stops the process instead."""
        return False

    def _fresh_client(self) -> httpx.Client:
        return httpx.Client(timeout=self._timeout, limits=self._limits, auth=self._auth)
