"""The request id middleware, in both of Django's modes, and the ASGI stack it lets stay async."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from core.context import RequestIdMiddleware, current_request_id


def seen_response(request: HttpRequest) -> HttpResponse:
    return HttpResponse(current_request_id() or "")


async def aseen_response(request: HttpRequest) -> HttpResponse:
    return HttpResponse(current_request_id() or "")


def test_it_adopts_a_well_formed_incoming_id_sync() -> None:
    middleware = RequestIdMiddleware(seen_response)
    response = middleware(RequestFactory().get("/", HTTP_X_REQUEST_ID="abc-123"))
    assert response["X-Request-ID"] == "abc-123"
    assert response.content == b"abc-123"
    assert current_request_id() is None


def test_it_replaces_a_malformed_id_sync() -> None:
    middleware = RequestIdMiddleware(seen_response)
    response = middleware(RequestFactory().get("/", HTTP_X_REQUEST_ID="bad id\n<x>"))
    assert response["X-Request-ID"] != "bad id\n<x>"
    assert len(response["X-Request-ID"]) == 32
    assert response.content.decode() == response["X-Request-ID"]


def test_it_runs_async_when_the_chain_is_async() -> None:
    from asgiref.sync import iscoroutinefunction

    middleware = RequestIdMiddleware(aseen_response)
    assert iscoroutinefunction(middleware)
    request = RequestFactory().get("/", HTTP_X_REQUEST_ID="async-1")
    response = asyncio.run(middleware(request))
    assert response["X-Request-ID"] == "async-1"
    assert response.content == b"async-1"
    assert request.request_id == "async-1"  # type: ignore[attr-defined]
    assert current_request_id() is None


def test_it_makes_an_id_async_when_none_comes() -> None:
    response = asyncio.run(RequestIdMiddleware(aseen_response)(RequestFactory().get("/")))
    assert len(response["X-Request-ID"]) == 32
    assert response.content.decode() == response["X-Request-ID"]


def test_it_keeps_djangos_asgi_middleware_chain_async() -> None:
    """One sync-only middleware would adapt the whole chain to run on a single thread."""
    from asgiref.sync import iscoroutinefunction

    from hub.asgi import django_application

    django_application.load_middleware(is_async=True)  # what the handler did at import
    assert iscoroutinefunction(django_application._middleware_chain)  # type: ignore[attr-defined]


@pytest.mark.slow
def test_it_echoes_the_id_through_the_asgi_server(hub: Any) -> None:
    response = httpx.get(hub.url + "/healthz", headers={"X-Request-ID": "through-asgi"}, timeout=10)
    assert response.headers["X-Request-ID"] == "through-asgi"
