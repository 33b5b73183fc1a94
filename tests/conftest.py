"""Shared fixtures: real PostgreSQL (pytest-django's test database) and real Redis.

The servers come from ``DATABASE_URL`` / ``REDIS_URL`` when set, else the embedded
ones under ``var/`` (see ``hub/embedded.py``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from redis import Redis

from tests import skip_policy

User = get_user_model()
ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    skip_policy.install(config)  # HUB_FAIL_ON_SKIP=1 (.ci/run): a skip not allowed fails the run


def test_database_url() -> str:
    """The test database (pytest-django's name) as a URL a child process can use.

    A unix-socket host (the embedded PostgreSQL) goes in the query string, as libpq reads it.
    """
    from django.db import connection

    s = connection.settings_dict
    auth = quote(s["USER"] or "")
    if s["PASSWORD"]:
        auth += ":" + quote(s["PASSWORD"])
    host = s["HOST"] or ""
    if host.startswith("/"):
        port = f"&port={s['PORT']}" if s["PORT"] else ""
        return f"postgresql://{auth}@/{s['NAME']}?host={quote(host)}{port}"
    port = f":{s['PORT']}" if s["PORT"] else ""
    return f"postgresql://{auth}@{host or '127.0.0.1'}{port}/{s['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    """Environment for a hub process a test starts (worker, aggregator, …): same servers,
    the test database, this run's secret."""
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "DJANGO_SETTINGS_MODULE": "hub.settings",
        "HUB_TESTING": "1",
        "PYTHONPATH": str(ROOT),
        "HUB_LAUNCH_ALLOWED_EXECUTABLES": ",".join(settings.HUB_LAUNCH_ALLOWED_EXECUTABLES),
    }
    env.update(extra)
    return env


@pytest.fixture(scope="session", autouse=True)
def launch_test_runtimes() -> Iterator[None]:
    """Fake runtimes are launched with this interpreter: allow it, besides the defaults.

    Nothing else is added, so a test that launches ``/bin/sh`` still sees it refused.
    """
    before = settings.HUB_LAUNCH_ALLOWED_EXECUTABLES
    settings.HUB_LAUNCH_ALLOWED_EXECUTABLES = [*before, sys.executable]
    yield
    settings.HUB_LAUNCH_ALLOWED_EXECUTABLES = before


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
    from django.test import override_settings

    from runtimes.gateway import gateway
    from tests.gateway.conftest import HubServer

    # A short wake wait (tests of a sleeping model answer within a second), and a small Redis
    # pool, so the 200-request burst proves a full pool waits rather than fails.
    with override_settings(HUB_GATEWAY_WAKE_WAIT_S=1.0, HUB_GATEWAY_REDIS_CONNECTIONS=8):
        gateway._config = None  # read the settings above when the server starts
        server = HubServer()
        server.start()
        yield server
        server.stop()
        gateway._config = None
