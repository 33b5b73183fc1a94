"""The one root ``NinjaAPI``: ``/api/v1``, OpenAPI at ``/api/openapi.json``, docs at ``/api/docs``.

Authentication: an API token (``Authorization: Bearer hub_…``; its scopes limit what it may
do) or the browser session (with CSRF on unsafe methods), ``api.auth``. Every error, from any
layer, answers ``{"error": {"code", "message", "retryable", "field"?}}``, ``api.errors``.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.parser import Parser
from ninja.types import DictStrAny

from api import errors
from api.auth import api_auth
from api.routers import assets, gateway, hosts, lifecycle, revisions
from models_admin.limits import json_too_deep


class BoundedParser(Parser):
    """JSON bodies, refused before parsing when nested deeper than ``HUB_MAX_JSON_DEPTH``
    (the C decoder recurses; a body some thousand levels deep would raise RecursionError)."""

    def parse_body(self, request: HttpRequest) -> DictStrAny:
        if json_too_deep(request.body, settings.HUB_MAX_JSON_DEPTH):
            raise errors.NestedTooDeep(
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
errors.install(api)


@api.get("/v1/ping", auth=None, tags=["meta"], summary="Liveness of the API (no authentication)")
def ping(request: HttpRequest) -> dict[str, bool]:
    return {"ok": True}


api.add_router("/v1/assets", assets.router)
api.add_router("/v1/assets", lifecycle.router)
api.add_router("/v1/revisions", revisions.router)
api.add_router("/v1/gateway", gateway.router)
api.add_router("/v1/hosts", hosts.router)
