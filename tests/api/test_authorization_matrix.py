"""The API's authorization matrix: every operation in ``/api/openapi.json``, by every role,
through a Bearer token and through the browser session (with CSRF), with the status each gets.

The rows are data (:data:`ROWS`, keyed ``"METHOD /path"`` as the schema names them); the
operations come from the schema, so a new endpoint without a row fails
``test_api_authorization[<its key>]``. "Allowed" rows pin the precise status the call answers
with the objects :class:`World` builds; refused ones are 401 (no credentials) or 403.

Token scopes limit a token further: for each operation, an admin's token holding every scope
but the one the operation needs gets 403, and one holding only that scope gets through.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from actions.tokens import do_create_token
from api.app import api
from models_admin.audit import Actor
from models_admin.models import TOKEN_SCOPES, Asset, AssetRevision, RevisionStatus
from runtimes import leases
from runtimes.models import RuntimeState
from tests.governance.factories import (
    ROLES_UNDER_TEST,
    asset_document,
    draft_revision,
    live_asset,
    submitted_revision,
    user_for,
    user_with_role,
)
from tests.governance.matrix import MAY, SCOPE_OF

pytestmark = pytest.mark.django_db

CSRF_SECRET = "matrixCsrfSecret0123456789abcdef"  # 32 alphanumerics: a valid unmasked CSRF secret


class World:
    """The objects an operation needs, built through the services on first use."""

    def __init__(self) -> None:
        self._live: Asset | None = None
        self.lease_owner = ""  # a token caller's leases are its own (set by ``call``)

    def live(self) -> Asset:
        """An approved on-demand asset whose runtime is running (at a closed local port: nothing calls it)."""
        if self._live is None:
            doc = asset_document(
                runtime={"kind": "llama-cpp", "model": "m.gguf", "base_url": "http://127.0.0.1:9"},
                lifecycle={"desired": "on-demand", "auto_sleep_min": 15},
            )
            self._live = live_asset(doc)
            RuntimeState.objects.update_or_create(
                asset=self._live, defaults={"state": "running", "base_url": "http://127.0.0.1:9"}
            )
        return self._live

    def draft(self) -> AssetRevision:
        return draft_revision()

    def submitted(self) -> AssetRevision:
        return submitted_revision()

    def lease(self) -> str:
        got = leases.try_acquire(self.live().asset_id, 2, 60, owner=self.lease_owner)
        assert isinstance(got, leases.Lease)
        return got.lease_id


Build = Callable[[World], tuple[dict[str, Any], Any]]


@dataclass(frozen=True)
class Row:
    need: str | None  # a role action (roles.ACTIONS), "gateway" (token scope only), None: public
    status: int  # what an allowed caller gets
    build: Build  # -> (path parameters, JSON body or None)


def _none(world: World) -> tuple[dict[str, Any], Any]:
    return {}, None


def _live(body: Any = None) -> Build:
    return lambda w: ({"asset_id": w.live().asset_id}, body)


def _revision(kind: str, body: Any = None) -> Build:
    return lambda w: ({"revision_id": getattr(w, kind)().pk}, body)


def _approve(w: World) -> tuple[dict[str, Any], Any]:
    revision = w.submitted()
    return {"revision_id": revision.pk}, {"digest": revision.digest}


def _usage(w: World) -> tuple[dict[str, Any], Any]:
    event = {
        "asset_id": w.live().asset_id,
        "interface": "llm-runtime",
        "started_at": time.time(),
        "duration_ms": 12.5,
        "status": 200,
        "prompt_tokens": 3,
        "completion_tokens": 5,
    }
    return {}, {"events": [event]}


IMPORT_YAML = "asset_id: matrix-import\ndisplay_name: M\nversion: '1'\ninterface: embedding-runtime\n"
IMPORT_YAML += "metadata: {embedding_dim: 8}\n"

ROWS: dict[str, Row] = {
    "GET /api/v1/ping": Row(None, 200, _none),
    "GET /api/v1/assets": Row("view", 200, _none),
    "POST /api/v1/assets": Row("edit", 201, lambda w: ({}, {"document": asset_document()})),
    "POST /api/v1/assets/import": Row("edit", 200, lambda w: ({}, {"yaml": IMPORT_YAML, "dry_run": True})),
    "GET /api/v1/assets/{asset_id}": Row("view", 200, _live()),
    "PUT /api/v1/assets/{asset_id}": Row(
        "edit",
        200,
        lambda w: ({"asset_id": w.live().asset_id}, {"document": {**w.live().spec, "version": "2.0.0"}}),
    ),
    "POST /api/v1/assets/{asset_id}/retire": Row("approve", 200, _live()),
    "GET /api/v1/assets/{asset_id}/revisions": Row("view", 200, _live()),
    "GET /api/v1/assets/{asset_id}/state": Row("view", 200, _live()),
    # The live asset runs on demand: a wake joins "running", sleep and restart begin (their
    # reconcile is enqueued at commit, which a test's rolled-back transaction never reaches).
    "POST /api/v1/assets/{asset_id}/wake": Row("operate", 200, _live()),
    "POST /api/v1/assets/{asset_id}/sleep": Row("operate", 200, _live()),
    "POST /api/v1/assets/{asset_id}/restart": Row("operate", 200, _live()),
    "GET /api/v1/assets/{asset_id}/events": Row("view", 200, _live()),
    "GET /api/v1/assets/{asset_id}/usage": Row("view", 200, _live()),
    "GET /api/v1/hosts": Row("view", 200, _none),
    "GET /api/v1/revisions": Row("view", 200, _none),
    "GET /api/v1/revisions/{revision_id}": Row("view", 200, _revision("draft")),
    "POST /api/v1/revisions/{revision_id}/submit": Row("edit", 200, _revision("draft")),
    "POST /api/v1/revisions/{revision_id}/withdraw": Row("edit", 200, _revision("submitted")),
    "POST /api/v1/revisions/{revision_id}/approve": Row("approve", 200, _approve),
    "POST /api/v1/revisions/{revision_id}/reject": Row(
        "approve", 200, _revision("submitted", {"comment": "not this one"})
    ),
    "POST /api/v1/gateway/resolve": Row(
        "gateway", 200, lambda w: ({}, {"interface": "llm-runtime", "model": w.live().asset_id, "wait_s": 0})
    ),
    "POST /api/v1/gateway/leases": Row(
        "gateway", 201, lambda w: ({}, {"asset_id": w.live().asset_id, "ttl_s": 30})
    ),
    "POST /api/v1/gateway/leases/{lease_id}/renew": Row(
        "gateway", 200, lambda w: ({"lease_id": w.lease()}, {"ttl_s": 30})
    ),
    "DELETE /api/v1/gateway/leases/{lease_id}": Row(
        "gateway", 204, lambda w: ({"lease_id": w.lease()}, None)
    ),
    "POST /api/v1/gateway/usage": Row("gateway", 202, _usage),
}


def schema_operations() -> list[str]:
    """``"METHOD /path"`` for every operation the OpenAPI schema publishes."""
    paths = api.get_openapi_schema(path_prefix="/api")["paths"]
    return [f"{method.upper()} {path}" for path, ops in paths.items() for method in ops]


OPERATIONS = sorted(set(schema_operations()) | set(ROWS))


def scope_needed(row: Row) -> str | None:
    if row.need is None:
        return None
    return "gateway" if row.need == "gateway" else SCOPE_OF[row.need]


def expected(row: Row, role: str, mode: str) -> int:
    if row.need is None:
        return row.status
    if role == "anonymous":
        return 401
    if row.need == "gateway":
        # Gateway calls need a token's scope, never a session; only an admin may hold that scope.
        return row.status if mode == "token" and role == "admin" else 403
    return row.status if role in MAY[row.need] else 403


# Every scope each role may hold (by hand: not read from ``roles.SCOPES_FOR_ROLE``).
ROLE_SCOPES = {
    "viewer": ("read", "inference"),
    "operator": ("read", "inference", "operate"),
    "editor": ("read", "inference", "operate", "write"),
    "approver": ("read", "inference", "operate", "write", "approve"),
    "admin": TOKEN_SCOPES,
}


def token_client(user: Any, scopes: list[str] | tuple[str, ...] | None = None) -> Client:
    """A Bearer client for ``user``; by default its token holds every scope the user's role may hold."""
    if scopes is None:
        scopes = ROLE_SCOPES["admin" if user.is_superuser else user.groups.get().name]
    token, secret = do_create_token(user, actor=Actor(user=user, source="cli"), scopes=scopes)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    client.lease_owner = f"token:{token.pk}"  # type: ignore[attr-defined]
    return client


def session_client(user: Any) -> Client:
    """A browser-like client: CSRF enforced, the cookie and header a page's JavaScript would send."""
    client = Client(enforce_csrf_checks=True, HTTP_X_CSRFTOKEN=CSRF_SECRET)
    client.cookies["csrftoken"] = CSRF_SECRET
    if user.is_authenticated:
        client.force_login(user)
    return client


def call(client: Client, key: str, world: World) -> Any:
    method, template = key.split(" ", 1)
    world.lease_owner = getattr(client, "lease_owner", "")
    params, body = ROWS[key].build(world)
    path = template.format(**params)
    if body is None:
        return client.generic(method, path)
    return client.generic(method, path, data=_json(body), content_type="application/json")


def _json(body: Any) -> str:
    import json

    return json.dumps(body)


@pytest.fixture(autouse=True)
def _redis(redis_client: Any) -> None:
    """Leases and usage live in the hub's Redis (flushed around each test)."""


def test_every_published_operation_has_a_row(client: Client) -> None:
    published = {
        f"{method.upper()} {path}"
        for path, ops in client.get("/api/openapi.json").json()["paths"].items()
        for method in ops
    }
    assert published == set(ROWS), "add a row to ROWS for each new operation (and drop removed ones)"


@pytest.mark.parametrize("mode", ["token", "session"])
@pytest.mark.parametrize("role", ROLES_UNDER_TEST)
@pytest.mark.parametrize("key", OPERATIONS)
def test_api_authorization(key: str, role: str, mode: str) -> None:
    assert key in ROWS, f"{key} is in /api/openapi.json but has no authorization row"
    row = ROWS[key]
    user = user_for(role)
    if mode == "session":
        client = session_client(user)  # anonymous: a browser that never logged in
    else:
        client = token_client(user) if user.is_authenticated else Client()  # anonymous: no Authorization
    response = call(client, key, World())
    want = expected(row, role, mode)
    assert response.status_code == want, response.content.decode()[:500]
    if want in (401, 403):
        code = response.json()["error"]["code"]
        assert code == ("unauthenticated" if want == 401 else "permission_denied")


@pytest.mark.parametrize("key", [k for k in OPERATIONS if k in ROWS and ROWS[k].need])
def test_api_refuses_an_invalid_token(key: str) -> None:
    response = call(Client(HTTP_AUTHORIZATION="Bearer hub_000000000000_not-a-token"), key, World())
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


SCOPE_CASES = [
    pytest.param(key, which, id=f"{key}: {'without' if which == 'lacking' else 'only'} {scope_needed(row)}")
    for key, row in sorted(ROWS.items())
    if row.need
    for which in ("lacking", "only")
]


@pytest.mark.parametrize(("key", "which"), SCOPE_CASES)
def test_api_token_scopes(key: str, which: str) -> None:
    """An admin's token is worth only its scopes: without the operation's scope, 403."""
    row = ROWS[key]
    scope = scope_needed(row)
    assert scope is not None
    scopes = [s for s in TOKEN_SCOPES if s != scope] if which == "lacking" else [scope]
    response = call(token_client(user_with_role("admin"), scopes), key, World())
    if which == "lacking":
        assert response.status_code == 403, response.content.decode()[:500]
        assert response.json()["error"]["code"] == "permission_denied"
    else:
        assert response.status_code == row.status, response.content.decode()[:500]


def test_a_session_post_without_csrf_is_refused() -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_with_role("admin"))
    response = client.post("/api/v1/assets", _json({"document": asset_document()}), "application/json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"
    assert not Asset.objects.exists()


def test_allowed_writes_take_effect() -> None:
    """The matrix's 2xx rows are real effects, not just statuses (spot checks)."""
    world = World()
    admin = token_client(user_with_role("admin"))
    revision = world.submitted()
    assert call(admin, "POST /api/v1/revisions/{revision_id}/approve", _Fixed(revision)).status_code == 200
    revision.refresh_from_db()
    assert revision.status == RevisionStatus.APPROVED
    assert Asset.objects.get(pk=revision.asset_id).live_spec == revision.document


class _Fixed(World):
    """A world whose submitted revision is the given one."""

    def __init__(self, revision: AssetRevision) -> None:
        super().__init__()
        self._revision = revision

    def submitted(self) -> AssetRevision:
        return self._revision
