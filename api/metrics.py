"""The ``/metrics`` view: open to the allowed networks, else a token with the read scope."""

from __future__ import annotations

import ipaddress
from functools import cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST

from models_admin.credentials import authenticate_cached, bearer_secret
from runtimes.metrics.prometheus import render


@cache
def _networks(raw: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(net, strict=False) for net in raw)


def allowed_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``HUB_METRICS_ALLOWED_NETWORKS`` (comma-separated CIDRs; empty: token only)."""
    return _networks(tuple(settings.HUB_METRICS_ALLOWED_NETWORKS))


def _from_allowed_network(remote_addr: str | None) -> bool:
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return False
    return any(address in net for net in allowed_networks())


def _refusal(status: int, message: str) -> HttpResponse:
    response = HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="hub-metrics"'
    return response


@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition. 401 without credentials from outside the allowed networks,
    403 for a token that is not valid here or lacks the ``read`` scope."""
    remote_addr = request.META.get("REMOTE_ADDR")
    if not _from_allowed_network(remote_addr):
        secret = bearer_secret(request.headers.get("Authorization"))
        if secret is None:
            return _refusal(
                401,
                "metrics: send 'Authorization: Bearer <token>' (read scope) or scrape from an allowed network",
            )
        hit = authenticate_cached(secret, remote_addr)
        if hit is None or not hit[1].has_scope("read"):
            return _refusal(403, "metrics: the token is not valid here or lacks the 'read' scope")
    return HttpResponse(render(), content_type=CONTENT_TYPE_LATEST)
