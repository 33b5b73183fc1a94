"""The one root ``NinjaAPI``: ``/api/v1``, OpenAPI at ``/api/openapi.json``, docs at ``/api/docs``.

Authentication: an API token (``Authorization: Bearer hub_…``; its scopes limit what it may
do) or the browser session (with CSRF on unsafe methods). Every error, from any layer,
answers ``{"error": {"code", "message", "retryable", "field"?}}`` with the status the
runtime error taxonomy (or the domain error) names; domain exceptions are mapped here,
once.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DataError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError
from ninja.operation import PathView
from ninja.parser import Parser
from ninja.types import DictStrAny

from models_admin.api import revisions_router
from models_admin.api import router as assets_router
from models_admin.governance import (
    ContentChanged,
    FourEyesViolation,
    InvalidInput,
    InvalidTransition,
    PermissionRefused,
)
from models_admin.limits import json_too_deep, max_body_bytes
from models_admin.validation import AssetValidationError
from runtimes.api import gateway_router
from runtimes.api import router as runtimes_router
from runtimes.errors import RuntimeAdapterError
from runtimes.gateway.auth import ApiError, api_auth
from runtimes.gateway.errors import error_body
from runtimes.hosts_api import router as hosts_router
from runtimes.lifecycle import LifecycleError

log = logging.getLogger(__name__)


class NestedTooDeep(ValueError):
    pass


class BoundedParser(Parser):
    """JSON bodies, refused before parsing when nested deeper than ``HUB_MAX_JSON_DEPTH``
    (the C decoder recurses; a body some thousand levels deep would raise RecursionError)."""

    def parse_body(self, request: HttpRequest) -> DictStrAny:
        if json_too_deep(request.body, settings.HUB_MAX_JSON_DEPTH):
            raise NestedTooDeep(
                f"the request body is nested more than {settings.HUB_MAX_JSON_DEPTH} levels deep"
            )
        return super().parse_body(request)


api = NinjaAPI(
    title="Hub API",
    version="1",
    description="Model assets, approvals and lifecycle for automation; resolve, leases and usage for gateways.",
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
    auth=api_auth,
    parser=BoundedParser(),
)


def error(
    request: HttpRequest,
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
    response = api.create_response(request, {"error": body}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _field_of(loc: Any) -> str | None:
    parts = [str(p) for p in loc or () if p not in ("body", "query", "path", "header", "cookie", "payload")]
    return ".".join(parts) or None


@api.exception_handler(ValidationError)
def _validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    first = exc.errors[0] if exc.errors else {}
    field = _field_of(first.get("loc"))
    message = str(first.get("msg") or "invalid input")
    return error(request, 422, "validation_error", f"{field}: {message}" if field else message, field=field)


@api.exception_handler(AssetValidationError)
def _asset_invalid(request: HttpRequest, exc: AssetValidationError) -> HttpResponse:
    first = exc.errors[0]
    return error(request, 422, "validation_error", str(exc), field=first.path)


@api.exception_handler(InvalidInput)
def _invalid_input(request: HttpRequest, exc: InvalidInput) -> HttpResponse:
    errors = getattr(exc, "errors", None) or []
    field = errors[0].path if errors else None
    return error(request, 422, "validation_error", str(exc), field=field)


@api.exception_handler(FourEyesViolation)
def _four_eyes(request: HttpRequest, exc: FourEyesViolation) -> HttpResponse:
    return error(request, 403, "four_eyes", str(exc))


@api.exception_handler(PermissionRefused)
def _refused(request: HttpRequest, exc: PermissionRefused) -> HttpResponse:
    return error(request, 403, "permission_denied", str(exc))


@api.exception_handler(InvalidTransition)
def _governance_transition(request: HttpRequest, exc: InvalidTransition) -> HttpResponse:
    return error(request, 409, "invalid_transition", str(exc))


@api.exception_handler(ContentChanged)
def _content_changed(request: HttpRequest, exc: ContentChanged) -> HttpResponse:
    return error(request, 409, "content_changed", str(exc), field="digest")


@api.exception_handler(LifecycleError)
def _lifecycle(request: HttpRequest, exc: LifecycleError) -> HttpResponse:
    return error(request, exc.http_status, exc.code, str(exc))


@api.exception_handler(RuntimeAdapterError)
def _runtime(request: HttpRequest, exc: RuntimeAdapterError) -> HttpResponse:
    response = api.create_response(request, error_body(exc), status=exc.http_status)
    for name, value in exc.response_headers().items():
        response[name] = value
    return response


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return error(request, exc.status, exc.code, exc.message, field=exc.field)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error(
        request, 401, "unauthenticated", "send a valid API token (Authorization: Bearer …) or log in"
    )


@api.exception_handler(AuthorizationError)
def _unauthorized(request: HttpRequest, exc: AuthorizationError) -> HttpResponse:
    return error(request, 403, "permission_denied", str(exc) or "not allowed")


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error(request, 404, "not_found", str(exc) or "not found")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, NestedTooDeep):  # ninja wraps any parser error in HttpError(400)
        return error(request, 400, "invalid_request", str(exc.__cause__))
    return error(request, exc.status_code, "http_error", str(exc))


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return error(
        request, 413, "payload_too_large", f"the request body is larger than {max_body_bytes()} bytes"
    )


@api.exception_handler(DataError)
def _data_error(request: HttpRequest, exc: DataError) -> HttpResponse:
    # PostgreSQL refused a value the validators let through (e.g. NUL in JSON text).
    return error(request, 400, "invalid_request", f"a value cannot be stored: {exc}".splitlines()[0])


@api.exception_handler(Exception)
def _internal(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.exception("api: unhandled error on %s", request.path)
    return error(request, 500, "internal_error", "internal error")


def _json_not_allowed(view: PathView) -> HttpResponse:
    allowed = sorted({method for op in view.operations for method in op.methods})
    body = {
        "error": {
            "code": "method_not_allowed",
            "message": f"allowed: {', '.join(allowed)}",
            "retryable": False,
        }
    }
    response = JsonResponse(body, status=405)
    response["Allow"] = ", ".join(allowed)
    return response


# ninja answers an unsupported method with text/html; every error here is JSON in one shape.
PathView._not_allowed = _json_not_allowed  # type: ignore[method-assign, assignment]


@api.get("/v1/ping", auth=None, tags=["meta"], summary="Liveness of the API (no authentication)")
def ping(request: HttpRequest) -> dict[str, bool]:
    return {"ok": True}


api.add_router("/v1/assets", assets_router)
api.add_router("/v1/assets", runtimes_router)
api.add_router("/v1/revisions", revisions_router)
api.add_router("/v1/gateway", gateway_router)
api.add_router("/v1/hosts", hosts_router)
