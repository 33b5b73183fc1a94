"""A real hub (uvicorn serving ``hub.asgi``) on a free 127.0.0.1 port, fake runtimes, and tokens.

The server runs in a thread of the test process against the test database, so tests that
talk to it use ``transactional_db`` (rows must be committed to be seen).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.llama_cpp import FakeLlamaCpp
from tests.fakes.tei import FakeTEI


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HubServer:
    def __init__(self) -> None:
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(
            "hub.asgi:application", host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("hub server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def hub(hub_server: HubServer, transactional_db: Any, redis_client: Any) -> HubServer:
    from runtimes.gateway.cache import connect_signals

    ensure_roles()
    connect_signals()
    return hub_server


def ensure_roles() -> None:
    """Role groups come from a data migration; a transactional test's flush removes them."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("models_admin.migrations.0003_roles_and_revision_backfill")
    migration.create_roles(apps, None)


@pytest.fixture
def llama() -> Iterator[Any]:
    fake = FakeLlamaCpp.serve("-m", "fake-llama.gguf", "--embeddings")
    yield fake
    fake.stop()


@pytest.fixture
def tei() -> Iterator[Any]:
    fake = FakeTEI.serve("--model-id", "fake-embedder")
    yield fake
    fake.stop()


def llm_document(asset_id: str, base_url: str, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "asset_id": asset_id,
        "display_name": f"LLM {asset_id}",
        "version": "1.0.0",
        "interface": "llm-runtime",
        "interface_version": "v1",
        "class": "model",
        "lifecycle": {"desired": "running"},
        "policy": {"max_concurrency": 4},
        "metadata": {"context_length": 4096},
        "runtime": {"kind": "llama-cpp", "model": "fake-llama.gguf", "base_url": base_url},
    }
    doc.update(changes)
    return doc


def embedding_document(asset_id: str, base_url: str, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "asset_id": asset_id,
        "display_name": f"Embedder {asset_id}",
        "version": "1.0.0",
        "interface": "embedding-runtime",
        "interface_version": "v1",
        "class": "model",
        "metadata": {"embedding_dim": 8},
        "runtime": {"kind": "tei", "model": "fake-embedder", "base_url": base_url},
    }
    doc.update(changes)
    return doc


@pytest.fixture
def make_live() -> Callable[..., Any]:
    """``make_live(document, state="running")``: an approved, live asset (through the governance
    services) whose runtime the lifecycle has brought to ``state`` at the document's base_url."""
    from runtimes.models import RuntimeState
    from tests.governance.factories import live_asset

    def make(document: dict[str, Any], state: str | None = "running") -> Any:
        asset = live_asset(document)
        if state is not None:
            base_url = (document.get("runtime") or {}).get("base_url", "")
            RuntimeState.objects.update_or_create(
                asset=asset, defaults={"state": state, "base_url": base_url}
            )
        return asset

    return make


@pytest.fixture
def make_token(make_user: Callable[..., Any]) -> Callable[..., str]:
    """``make_token(scopes=("inference",), user=None)``: a fresh token secret."""
    from actions.tokens import do_create_token
    from models_admin.audit import Actor

    def make(scopes: tuple[str, ...] = ("inference",), user: Any = None) -> str:
        owner = user or make_user(superuser=True)
        _, secret = do_create_token(owner, actor=Actor(user=owner, source="cli"), scopes=list(scopes))
        return secret

    return make


@pytest.fixture
def usage_events(redis_client: Any) -> Callable[[], list[dict[str, str]]]:
    """``usage_events()``: the events on the usage stream, oldest first (waits briefly for them)."""
    from runtimes.usage import USAGE_STREAM

    def read(expect: int = 1) -> list[dict[str, str]]:
        deadline = time.monotonic() + 5
        while True:
            entries = redis_client.xrange(USAGE_STREAM)
            if len(entries) >= expect or time.monotonic() > deadline:
                return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]
            time.sleep(0.02)

    return read


def post(hub: HubServer, path: str, token: str | None, body: Any, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(hub.url + path, json=body, headers=headers, timeout=30, **kwargs)
