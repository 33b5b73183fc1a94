"""Runtime models: observed lifecycle state and its event log (and, later, usage rollups)."""

from runtimes.models.lifecycle import (
    ACTIVE_STATES,
    TRANSITIONS,
    Health,
    LifecycleEvent,
    ObservedState,
    RuntimeState,
    is_allowed,
)

__all__ = [
    "ACTIVE_STATES",
    "TRANSITIONS",
    "Health",
    "LifecycleEvent",
    "ObservedState",
    "RuntimeState",
    "is_allowed",
]
