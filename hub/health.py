"""Liveness and readiness probes."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

import core.redis


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers; says nothing about its dependencies."""
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def _check_redis() -> str | None:
    try:
        client = core.redis.probe(timeout_s=2)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    return None


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when PostgreSQL and Redis answer; 503 naming the failing part otherwise."""
    checks = {"database": _check_database(), "redis": _check_redis()}
    failing = {name: error for name, error in checks.items() if error}
    body = {
        "status": "ok" if not failing else "unavailable",
        "checks": {name: (error or "ok") for name, error in checks.items()},
    }
    return JsonResponse(body, status=503 if failing else 200)
