"""Errors only the edge (gateway and API) raises, in the runtime error taxonomy's shape.

They subclass :class:`runtimes.errors.RuntimeAdapterError`, so one mapping turns any of
them, or any adapter error, into a response: :func:`error_body` for the hub's own API
shape and the OpenAI shape at once.
"""

from __future__ import annotations

from typing import Any

from runtimes.errors import RuntimeAdapterError


class NotApproved(RuntimeAdapterError, code="model_not_approved", http_status=409):
    """The asset has no approved, live document yet."""


class Retired(RuntimeAdapterError, code="model_retired", http_status=409):
    """The asset is retired: it serves nothing any more."""


class NoRuntime(RuntimeAdapterError, code="no_runtime", http_status=409):
    """The live document binds no runtime: the asset is catalogued, not routable."""


class InterfaceNotImplemented(RuntimeAdapterError, code="interface_not_implemented", http_status=409):
    """The asset's interface has no route in the gateway."""


class ModelStopped(RuntimeAdapterError, code="model_stopped", http_status=409):
    """An operator stopped the asset (desired state ``stopped``); requests do not wake it."""


class ModelFailed(RuntimeAdapterError, code="model_failed", http_status=502):
    """The runtime failed and the lifecycle gave up on it."""


class AuthenticationFailed(RuntimeAdapterError, code="invalid_api_key", http_status=401):
    """No valid bearer token (missing, unknown, revoked or expired)."""


class PermissionDenied(RuntimeAdapterError, code="permission_denied", http_status=403):
    """The token is valid but its scopes or its user's role do not allow this."""


class BadRequest(RuntimeAdapterError, code="invalid_request", http_status=400):
    """The caller's request is malformed; ``field`` names the offending field when known."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class PayloadTooLarge(RuntimeAdapterError, code="payload_too_large", http_status=413):
    """The request body is over the size limit (``HUB_GATEWAY_MAX_BODY_BYTES``)."""


class RouteNotFound(RuntimeAdapterError, code="not_found", http_status=404):
    """No gateway route answers this method and path."""


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


class QueueTimeout(RuntimeAdapterError, code="queue_timeout", http_status=503, retryable=True):
    """The request waited ``policy.queue_timeout_s`` in the model's queue without a slot."""


class OperationNotServed(RuntimeAdapterError, code="operation_not_served", http_status=404):
    """The model's runtime does not speak the endpoint asked for (e.g. completions on Ollama)."""
