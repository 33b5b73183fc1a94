"""The last lines of a launched runtime's own log, for the asset page.

The launcher writes each process's output to ``<HUB_RUNTIME_LOG_DIR>/logs/<asset>.log`` on
the host that runs it, and keeps the file after the process stops (a failed start's reason
is in there). Only a process launched on this host can be read from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from models_admin.models import Asset
from runtimes.launcher import tail_lines
from runtimes.lifecycle import config, dispatch, runner
from runtimes.lifecycle.policy import policy_for
from runtimes.models import RuntimeState

DEFAULT_LINES = 40


@dataclass(frozen=True)
class RuntimeLog:
    lines: list[str]
    path: str
    note: str = ""  # why there are no lines to show, when there are none

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def runtime_log(asset: Asset, *, lines: int = DEFAULT_LINES) -> RuntimeLog | None:
    """The tail of ``asset``'s runtime log; None when the hub launches no process for it."""
    if not policy_for(asset).launched:
        return None
    key = asset.asset_id
    recorded = RuntimeState.objects.filter(asset=asset).values_list("host", "process").first()
    host, process = recorded if recorded is not None else ("", None)
    handle = runner.handle_from(process)
    path = Path(handle.log_path) if handle is not None else runner.launcher().log_path(key)
    where = dispatch.target_host(asset) or host or config.host_name()
    if where != config.host_name():
        return RuntimeLog([], str(path), f"the runtime runs on host {where}; its log is there, under {path}")
    tail = tail_lines(path, lines)
    if tail is None:
        return RuntimeLog([], str(path), "no log yet: the runtime has not been started on this host")
    return RuntimeLog(tail, str(path), "" if tail else "the log is empty")
