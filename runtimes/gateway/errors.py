"""Errors only the edge (gateway and API) raises, in the runtime error taxonomy's shape.

They subclass :class:`runtimes.errors.RuntimeAdapterError`, so one mapping turns any of
them, or any adapter error, into a response: :func:`error_body` for the hub's own API
shape and the OpenAI shape at once.
"""

from __future__ import annotations

from typing import Any

from runtimes.errors import RuntimeAdapterError


class NotApproved(RuntimeAdapterError):
    """The asset has no approved, live document yet."""

    code = "model_not_approved"
    http_status = 409


class Retired(RuntimeAdapterError):
    code = "model_retired"
    http_status = 409


class NoRuntime(RuntimeAdapterError):
    """The live document binds no runtime: the asset is catalogued, not routable."""

    code = "no_runtime"
    http_status = 409


class InterfaceNotImplemented(RuntimeAdapterError):
    code = "interface_not_implemented"
    http_status = 409


class ModelStopped(RuntimeAdapterError):
    """An operator stopped the asset (desired state ``stopped``); requests do not wake it."""

    code = "model_stopped"
    http_status = 409


class ModelFailed(RuntimeAdapterError):
    """The runtime failed and the lifecycle gave up on it."""

    code = "model_failed"
    http_status = 502


class AuthenticationFailed(RuntimeAdapterError):
    code = "invalid_api_key"
    http_status = 401


class PermissionDenied(RuntimeAdapterError):
    code = "permission_denied"
    http_status = 403


class BadRequest(RuntimeAdapterError):
    """The caller's request is malformed; ``field`` names the offending field when known."""

    code = "invalid_request"
    http_status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class PayloadTooLarge(RuntimeAdapterError):
    """The request body is over the size limit (``HUB_GATEWAY_MAX_BODY_BYTES``)."""

    code = "payload_too_large"
    http_status = 413


class RouteNotFound(RuntimeAdapterError):
    code = "not_found"
    http_status = 404


def error_body(exc: RuntimeAdapterError) -> dict[str, Any]:
    """``{"error": {...}}`` readable both as the hub's API error and as an OpenAI error.

    Hub clients read ``code``, ``message``, ``retryable`` and ``field``; OpenAI SDKs read
    ``message``, ``type``, ``param`` and ``code``.
    """
    field = getattr(exc, "field", None)
    error: dict[str, Any] = {
        "code": exc.code,
        "message": exc.message,
        "retryable": exc.retryable,
        "type": exc.code,
        "param": field,
    }
    if field is not None:
        error["field"] = field
    return {"error": error}


class QueueTimeout(RuntimeAdapterError):
    """The request waited ``policy.queue_timeout_s`` in the model's queue without a slot."""

    code = "queue_timeout"
    http_status = 503
    retryable = True


class OperationNotServed(RuntimeAdapterError):
    """The model's runtime does not speak the endpoint asked for (e.g. completions on Ollama)."""

    code = "operation_not_served"
    http_status = 404
