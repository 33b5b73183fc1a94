"""Lifecycle domain errors; the API maps each to HTTP once."""

from __future__ import annotations


class LifecycleError(Exception):
    http_status = 409
    code = "lifecycle_error"


class InvalidTransition(LifecycleError):
    """The move is not in the transition table, or another worker changed the state first.

    Nothing was changed. HTTP 409.
    """

    code = "invalid_transition"


class NotRunnable(InvalidTransition):
    """The asset has no live (approved) spec, is retired, or declares no runtime. HTTP 409."""

    code = "not_runnable"
