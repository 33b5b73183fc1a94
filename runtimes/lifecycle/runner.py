"""Talking to the runtime itself: build its adapter, start, adopt, stop, probe.

Only ``runtimes.lifecycle`` calls this. Launched processes are tracked by the launcher
under the asset id, in ``HUB_RUNTIME_LOG_DIR`` on the host that runs them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from runtimes import registry
from runtimes.adapters._launchable import LaunchableRuntime
from runtimes.binding import RuntimeBinding
from runtimes.launcher import Launcher
from runtimes.lifecycle import config
from runtimes.protocols import HealthReport, HealthState, ManagedRuntime
from runtimes.protocols.managed import ProcessHandle


class HubLauncher(Launcher):
    """The launcher, probing readiness often: the hub should notice "ready" within ~100 ms."""

    def wait_ready(
        self,
        handle: ProcessHandle,
        probe: Callable[[], bool],
        *,
        timeout_s: float,
        initial_delay_s: float = 0.02,
        max_delay_s: float = 2.0,
    ) -> None:
        super().wait_ready(
            handle,
            probe,
            timeout_s=timeout_s,
            initial_delay_s=initial_delay_s,
            max_delay_s=min(max_delay_s, config.ready_poll_max_s()),
        )


def launcher() -> HubLauncher:
    return HubLauncher(config.launcher_dir(), allowed_executables=config.launch_allowed_executables())


def handle_from(data: dict[str, Any] | None) -> ProcessHandle | None:
    if not data:
        return None
    try:
        return ProcessHandle.from_dict(data)
    except (KeyError, TypeError, ValueError):
        return None


def make_runtime(
    binding: RuntimeBinding, key: str, handle: ProcessHandle | None = None
) -> tuple[Any, ManagedRuntime | None]:
    """The adapter for ``binding`` and, if it has a lifecycle, the same object as ``ManagedRuntime``."""
    if registry.is_launchable(binding.kind):
        adapter: Any = registry.make_adapter(binding, launcher=launcher(), key=key, handle=handle)
    elif registry.accepts_api_key(binding.kind):
        adapter = registry.make_adapter(binding, secrets=config.upstream_secrets())
    else:
        adapter = registry.make_adapter(binding)
    return adapter, adapter if isinstance(adapter, ManagedRuntime) else None


def orphan_for(key: str, known: ProcessHandle | None) -> ProcessHandle | None:
    """A live process the launcher started for ``key`` that the database does not know.

    That is what a worker killed in the middle of a start leaves behind: adopt it
    rather than start a second one.
    """
    recorded = launcher().recorded().get(key)
    if recorded is None or (known is not None and recorded.pid == known.pid):
        return None
    return recorded if launcher().is_alive(recorded) else None


def sleep_in_place(binding: RuntimeBinding, key: str, handle: ProcessHandle) -> bool:
    """Put a launched process to sleep without stopping it (vLLM's sleep mode); False when
    its kind or server has none (or it failed): then the caller stops the process."""
    adapter, _ = make_runtime(binding, key, handle)
    try:
        return isinstance(adapter, LaunchableRuntime) and adapter.sleep_in_place()
    except Exception:  # a failed sleep falls back to stopping the process
        return False
    finally:
        with contextlib.suppress(Exception):
            adapter.close()


def stop_process(handle: ProcessHandle | None) -> None:
    if handle is not None:
        launcher().stop(handle)


def is_alive(handle: ProcessHandle | None) -> bool:
    return handle is not None and launcher().is_alive(handle)


def probe_health(binding: RuntimeBinding, key: str, handle: ProcessHandle | None) -> HealthReport:
    """ok / busy / down for any runtime, managed or external. Never raises."""
    adapter, managed = make_runtime(binding, key, handle)
    try:
        if managed is not None:
            return managed.health()
        check = getattr(adapter, "check_reachable", None)
        if check is None:
            return HealthReport(HealthState.DOWN, "no health check for this kind")
        reach = check()
        return HealthReport(HealthState.OK if reach.reachable else HealthState.DOWN, str(reach.detail))
    except Exception as exc:  # a probe must never break the caller; report it as down
        return HealthReport(HealthState.DOWN, f"health check failed: {exc}")
    finally:
        with contextlib.suppress(Exception):
            adapter.close()
