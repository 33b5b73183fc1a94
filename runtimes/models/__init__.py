"""Runtime models: observed lifecycle state and its event log (and, later, usage rollups)."""

from runtimes.models.hosts import Host
from runtimes.models.lifecycle import (
    ACTIVE_STATES,
    TRANSITIONS,
    Health,
    LifecycleEvent,
    ObservedState,
    RuntimeState,
    is_allowed,
)
from runtimes.models.usage import UsageCursor, UsageMinute, UsageTotal

__all__ = [
    "ACTIVE_STATES",
    "TRANSITIONS",
    "Health",
    "Host",
    "LifecycleEvent",
    "ObservedState",
    "RuntimeState",
    "UsageCursor",
    "UsageMinute",
    "UsageTotal",
    "is_allowed",
]
