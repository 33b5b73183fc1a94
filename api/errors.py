"""The API's one error shape, ``{"error": {"code", "message", "retryable", "field"?}}``, and the
mapping of every domain error to its status, made once (``install``)."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import DataError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError
from ninja.operation import PathView

from actions.usage import UsageRefused
from models_admin.governance import (
    ContentChanged,
    FourEyesViolation,
    InvalidInput,
    InvalidTransition,
    PermissionRefused,
)
from models_admin.limits import max_body_bytes
from models_admin.validation import AssetValidationError
from runtimes.errors import RuntimeAdapterError
from runtimes.gateway.errors import error_body
from runtimes.lifecycle.errors import LifecycleError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error an API handler answers directly (status, stable code, message, field)."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


class NestedTooDeep(ValueError):
    """A JSON body nested deeper than ``HUB_MAX_JSON_DEPTH`` (refused before parsing)."""


def error(
    status: int,
    code: str,
    message: str,
    *,
    retryable: bool = False,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    body: dict[str, Any] = {"code": code, "message": message, "retryable": retryable}
    if field is not None:
        body["field"] = field
    response = JsonResponse({"error": body}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _field_of(loc: Any) -> str | None:
    parts = [str(p) for p in loc or () if p not in ("body", "query", "path", "header", "cookie", "payload")]
    return ".".join(parts) or None


def _validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    first = exc.errors[0] if exc.errors else {}
    field = _field_of(first.get("loc"))
    message = str(first.get("msg") or "invalid input")
    return error(422, "validation_error", f"{field}: {message}" if field else message, field=field)


def _asset_invalid(request: HttpRequest, exc: AssetValidationError) -> HttpResponse:
    return error(422, "validation_error", str(exc), field=exc.errors[0].path)


def _invalid_input(request: HttpRequest, exc: InvalidInput) -> HttpResponse:
    field = exc.errors[0].path if exc.errors else None
    return error(422, "validation_error", str(exc), field=field)


def _runtime(request: HttpRequest, exc: RuntimeAdapterError) -> HttpResponse:
    response = JsonResponse(error_body(exc), status=exc.http_status)
    for name, value in exc.response_headers().items():
        response[name] = value
    return response


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, NestedTooDeep):  # ninja wraps any parser error in HttpError(400)
        return error(400, "invalid_request", str(exc.__cause__))
    return error(exc.status_code, "http_error", str(exc))


def _data_error(request: HttpRequest, exc: DataError) -> HttpResponse:
    # PostgreSQL refused a value the validators let through.
    return error(400, "invalid_request", f"a value cannot be stored: {exc}".splitlines()[0])


def _internal(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.exception("api: unhandled error on %s", request.path)
    return error(500, "internal_error", "internal error")


def _json_not_allowed(view: PathView) -> HttpResponse:
    allowed = sorted({method for op in view.operations for method in op.methods})
    return error(
        405, "method_not_allowed", f"allowed: {', '.join(allowed)}", headers={"Allow": ", ".join(allowed)}
    )


def install(api: NinjaAPI) -> None:
    """Map every error to the one shape, most specific class first."""
    handlers: list[tuple[type[Exception], Any]] = [
        (ValidationError, _validation),
        (AssetValidationError, _asset_invalid),
        (InvalidInput, _invalid_input),
        (FourEyesViolation, lambda request, exc: error(403, "four_eyes", str(exc))),
        (PermissionRefused, lambda request, exc: error(403, "permission_denied", str(exc))),
        (ContentChanged, lambda request, exc: error(409, "content_changed", str(exc), field="digest")),
        (InvalidTransition, lambda request, exc: error(409, "invalid_transition", str(exc))),
        (LifecycleError, lambda request, exc: error(exc.http_status, exc.code, str(exc))),
        (RuntimeAdapterError, _runtime),
        (ApiError, lambda request, exc: error(exc.status, exc.code, exc.message, field=exc.field)),
        (UsageRefused, lambda request, exc: error(422, exc.code, exc.message, field=exc.field)),
        (UsageRefused, lambda request, exc: error(422, exc.code, exc.message, field=exc.field)),
        (
            AuthenticationError,
            lambda request, exc: error(
                401, "unauthenticated", "send a valid API token (Authorization: Bearer …) or log in"
            ),
        ),
        (AuthorizationError, lambda request, exc: error(403, "permission_denied", str(exc) or "not allowed")),
        (Http404, lambda request, exc: error(404, "not_found", str(exc) or "not found")),
        (HttpError, _http_error),
        (
            RequestDataTooBig,
            lambda request, exc: error(
                413, "payload_too_large", f"the request body is larger than {max_body_bytes()} bytes"
            ),
        ),
        (DataError, _data_error),
        (Exception, _internal),
    ]
    for exc_class, handler in handlers:
        api.add_exception_handler(exc_class, handler)
    # ninja answers an unsupported method with text/html; every error here is JSON in one shape.
    PathView._not_allowed = _json_not_allowed  # type: ignore[method-assign, assignment]
