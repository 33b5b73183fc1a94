"""Lifecycle domain errors; the API maps each to HTTP once."""

from __future__ import annotations

from typing import ClassVar

from runtimes.errors import RuntimeAdapterError


class LifecycleError(Exception):
    http_status: ClassVar[int] = 409
    code: ClassVar[str] = "lifecycle_error"


class InvalidTransition(LifecycleError):
    """The move is not in the transition table, or another worker changed the state first.

    Nothing was changed. HTTP 409.
    """

    code = "invalid_transition"


class NotRunnable(InvalidTransition):
    """The asset has no live (approved) spec, is retired, or declares no runtime. HTTP 409."""

    code = "not_runnable"


class NoCapacity(RuntimeAdapterError, LifecycleError):
    """No live host has room for the runtime, even after evicting every idle model it may.

    Raised at once by a wake (never a start that hangs): HTTP 503, the message naming the
    host(s), what is needed, what is free and what holds the rest.
    """

    code = "no_capacity"
    http_status = 503
    retryable = False
