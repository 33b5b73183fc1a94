"""Usage events: what the gateway reports per request, and the Redis stream they travel on.

The gateway (producer) appends events with :func:`publish`; the metrics aggregator
(consumer group on :data:`USAGE_STREAM`) folds them into live rates and per-minute
rollups. Nothing is written to PostgreSQL per event on the request path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Protocol

USAGE_STREAM = "hub:usage"
STREAM_MAXLEN = 1_000_000  # approximate cap: a stalled aggregator cannot fill Redis


class _StreamWriter(Protocol):
    def xadd(self, name: str, fields: Any, *args: Any, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class UsageEvent:
    asset_id: str
    interface: str  # e.g. "llm-runtime"
    started_at: float  # unix seconds
    duration_ms: float  # whole request, as the caller saw it
    status: int  # HTTP status returned to the caller
    prompt_tokens: int = 0
    completion_tokens: int = 0
    input_count: int = 0  # embeddings: inputs in the batch
    generation_ms: float | None = None  # time spent generating (first to last token), if known

    def to_fields(self) -> dict[str, str]:
        return {name: _text(getattr(self, name)) for name in _FIELDS}

    def xadd_command(self) -> list[str | int]:
        """The command :func:`publish` sends for this event, for a client that takes raw commands."""
        command: list[str | int] = ["XADD", USAGE_STREAM, "MAXLEN", "~", STREAM_MAXLEN, "*"]
        for name in _FIELDS:
            command += (name, _text(getattr(self, name)))
        return command

    @classmethod
    def from_fields(cls, raw: Mapping[bytes | str, bytes | str]) -> UsageEvent:
        """Parse a stream entry; raises ``ValueError`` / ``KeyError`` on a malformed one."""
        data = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()
        }
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            value = data.get(f.name, "")
            if f.name in {"asset_id", "interface"}:
                kwargs[f.name] = value
            elif f.name in {"status", "prompt_tokens", "completion_tokens", "input_count"}:
                kwargs[f.name] = int(value or 0)
            elif f.name == "generation_ms":
                kwargs[f.name] = float(value) if value else None
            else:
                kwargs[f.name] = float(value)
        if not kwargs["asset_id"]:
            raise ValueError("usage event without asset_id")
        return cls(**kwargs)


_FIELDS = tuple(f.name for f in fields(UsageEvent))  # in order (asdict() costs more per event)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def publish(client: _StreamWriter, events: Iterable[UsageEvent]) -> int:
    """Append events to the usage stream; returns how many were written."""
    count = 0
    for event in events:
        client.xadd(USAGE_STREAM, event.to_fields(), maxlen=STREAM_MAXLEN, approximate=True)
        count += 1
    return count
