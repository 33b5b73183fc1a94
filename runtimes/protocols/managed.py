"""``ManagedRuntime``: bring a model up, watch it, put it down (seeds 001 and 003)."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class ProcessHandle:
    """One launched process: enough to find it, reach it and stop it later."""

    key: str
    pid: int
    start_time: int | None  # kernel start time (clock ticks since boot); None off Linux
    port: int
    base_url: str
    log_path: str
    command: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["command"] = list(self.command)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProcessHandle:
        return cls(
            key=str(data["key"]),
            pid=int(data["pid"]),
            start_time=None if data.get("start_time") is None else int(data["start_time"]),
            port=int(data["port"]),
            base_url=str(data["base_url"]),
            log_path=str(data["log_path"]),
            command=tuple(data["command"]),
        )


@dataclass(frozen=True)
class RunningTarget:
    """Where to send traffic for a model that is ready now.

    ``just_started`` is true when this call started or loaded it (a cold start the
    caller may want to report); ``handle`` is set when the hub launched the process.
    """

    base_url: str
    model: str
    context_length: int | None = None
    just_started: bool = False
    handle: ProcessHandle | None = None


class HealthState(enum.StrEnum):
    OK = "ok"
    BUSY = "busy"  # serving, but every slot is taken: not a failure
    DOWN = "down"


@dataclass(frozen=True)
class HealthReport:
    state: HealthState
    detail: str = ""

    @property
    def serving(self) -> bool:
        """True for ok and busy: the runtime answers, possibly after a wait."""
        return self.state is not HealthState.DOWN


@dataclass(frozen=True)
class RuntimeMetadata:
    """What the runtime says about the model it serves; ``extra`` keeps the rest."""

    kind: str
    model: str
    context_length: int | None = None
    embedding_dimension: int | None = None
    max_concurrency: int | None = None
    version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class ManagedRuntime(Protocol):
    """Lifecycle of one model on one runtime. External APIs do not implement this."""

    def ensure_running(self) -> RunningTarget:
        """Start the process or load the model if needed, and wait until it is ready.

        Idempotent: on a ready runtime it returns at once with ``just_started=False``.
        Raises ``ModelNotFound`` / ``ModelFileNotFound``, ``SpawnFailed``,
        ``HealthCheckFailed`` (not ready in time) or ``UpstreamError``.
        """
        ...

    def is_ready(self) -> bool:
        """True when a request sent now would be served. Never raises."""
        ...

    def health(self) -> HealthReport:
        """ok / busy (all slots in use) / down, with a human detail. Never raises."""
        ...

    def sleep(self) -> None:
        """Free the model's memory cheaply; ``ensure_running`` wakes it.

        Runtimes without a sleep mode unload or stop. Idempotent.
        """
        ...

    def stop(self) -> None:
        """Stop serving the model: unload it, or stop the process the hub launched.

        A server the hub did not launch is left running. Idempotent.
        """
        ...

    def metadata(self) -> RuntimeMetadata:
        """Facts about the served model (context length, dimension, slots...).

        Raises ``UpstreamError`` / ``RuntimeTimeout`` when the runtime cannot answer.
        """
        ...
