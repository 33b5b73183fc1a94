"""Shared fixtures: real PostgreSQL (pytest-django's test database) and real Redis.

The servers come from ``DATABASE_URL`` / ``REDIS_URL`` when set, else the embedded
ones under ``var/`` (see ``hub/embedded.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from redis import Redis

User = get_user_model()


@pytest.fixture
def redis_client() -> Iterator[Redis]:
    """The hub's Redis, emptied before and after the test."""
    client = Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def make_user(db: Any) -> Callable[..., Any]:
    counter = iter(range(1, 1_000_000))

    def make(username: str | None = None, *, superuser: bool = False, **extra: Any) -> Any:
        name = username or f"user{next(counter)}"
        if superuser:
            return User.objects.create_superuser(name, f"{name}@example.com", "pw-" + name, **extra)
        return User.objects.create_user(name, f"{name}@example.com", "pw-" + name, **extra)

    return make


@pytest.fixture
def client_for() -> Callable[[Any], Client]:
    """``client_for(user)``: a test client logged in as ``user``."""

    def make(user: Any) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture(scope="session")
def hub_server(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Any]:
    """The whole hub (Hub-UI, API, gateway) served by uvicorn on a free loopback port.

    Defined here, once: the gateway is one ASGI app per process, bound to the event loop
    of the server that started it, so a second server in the same test run would share
    it across loops.
    """
    from tests.gateway.conftest import HubServer

    server = HubServer()
    server.start()
    yield server
    server.stop()
