"""The Hub-UI's authorization matrix: every page (GET) and every action (POST) of
``models_admin.ui.urls``, by every role, through Django's test client with CSRF enforced.

Anonymous people are sent to log in (302 to ``/login/?next=…``); a role lacking the
permission gets 403 (404 for someone else's token, whose existence is not shown); allowed
ones get the precise status, and every POST row also checks its effect happened (or, when
refused, did not). A URL pattern without a GET row and a POST row fails
``test_every_url_has_a_get_and_a_post_row``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern

from actions.tokens import do_create_token
from models_admin import governance
from models_admin.audit import Actor
from models_admin.models import ApiToken, Asset, AssetRevision, RevisionStatus
from models_admin.roles import role_of
from models_admin.ui.urls import urlpatterns
from runtimes.models import RuntimeState
from tests.governance.factories import (
    ROLES_UNDER_TEST,
    asset_document,
    live_asset,
    submitted_revision,
    user_for,
    user_with_role,
)
from tests.governance.matrix import MAY

pytestmark = pytest.mark.django_db

CSRF_SECRET = "matrixCsrfSecret0123456789abcdef"  # 32 alphanumerics: a valid unmasked CSRF secret
NEW_ID = "matrix-ui-new"
IMPORT_YAML = f"asset_id: {NEW_ID}\ndisplay_name: M\nversion: '1'\ninterface: embedding-runtime\n"
IMPORT_YAML += "metadata: {embedding_dim: 8}\n"


class World:
    """What a row needs, built through the services on first use, for the person ``user``."""

    def __init__(self, user: Any) -> None:
        self.user = user
        self._live: Asset | None = None
        self._revision: AssetRevision | None = None
        self._token: ApiToken | None = None
        self._other: User | None = None

    def other(self, active: bool = True) -> User:
        """Someone else's account, a viewer (the target of the Users page's actions)."""
        if self._other is None:
            self._other = user_with_role("viewer", is_active=active)
        return self._other

    def fresh_other(self) -> User:
        assert self._other is not None
        self._other.refresh_from_db()
        return self._other

    def live(self, state: str = "running") -> Asset:
        """An approved on-demand asset whose runtime is in ``state`` (nothing is started for real:
        the reconcile is enqueued at commit, which the test's rolled-back transaction never reaches)."""
        if self._live is None:
            doc = asset_document(
                runtime={"kind": "llama-cpp", "model": "m.gguf", "base_url": "http://127.0.0.1:9"},
                lifecycle={"desired": "on-demand", "auto_sleep_min": 15},
            )
            self._live = live_asset(doc)
            RuntimeState.objects.update_or_create(
                asset=self._live, defaults={"state": state, "base_url": "http://127.0.0.1:9"}
            )
        return self._live

    def state(self) -> str:
        return str(RuntimeState.objects.get(asset=self.live()).state)

    def submitted(self) -> AssetRevision:
        if self._revision is None:
            self._revision = submitted_revision()
        return self._revision

    def status(self) -> str:
        self.submitted().refresh_from_db()
        return str(self.submitted().status)

    def token(self, own: bool) -> ApiToken:
        if self._token is None:
            owner = self.user if own and self.user.is_authenticated else user_with_role("viewer")
            self._token, _ = do_create_token(owner, actor=Actor(user=owner, source="cli"), scopes=["read"])
        return self._token

    def revoked(self) -> bool:
        assert self._token is not None
        self._token.refresh_from_db()
        return self._token.revoked_at is not None


Build = Callable[[World], tuple[str, dict[str, Any] | None]]
Done = Callable[[World, Any], bool]


@dataclass(frozen=True)
class Row:
    name: str  # the URL's name in models_admin.ui.urls
    need: str  # a role action (roles.ACTIONS) or "signed-in"
    status: int  # what an allowed person gets
    build: Build  # -> (url, POST data or None for a GET)
    done: Done | None = None  # the POST's effect: true once allowed, still false when refused
    denied: int = 403
    prepare: Callable[[World], None] | None = None  # before signing in


def _page(url: str) -> Build:
    return lambda w: (url, None)


def _asset_url(suffix: str = "", state: str = "running") -> Callable[[World], str]:
    return lambda w: f"/models/{w.live(state).asset_id}/{suffix}"


def _get(url: Callable[[World], str]) -> Build:
    return lambda w: (url(w), None)


def _post(url: Callable[[World], str], data: dict[str, Any] | None = None) -> Build:
    return lambda w: (url(w), dict(data or {}))


def _edit_form(w: World) -> tuple[str, dict[str, Any]]:
    asset = w.live()
    document = f"asset_id: {asset.asset_id}\ndisplay_name: Edited\nversion: 2.0.0\n"
    document += "interface: llm-runtime\nmetadata: {context_length: 8192}\n"
    return f"/models/{asset.asset_id}/edit/", {"editor": "yaml", "document": document}


def _new_form(w: World) -> tuple[str, dict[str, Any]]:
    fields = {"asset_id": NEW_ID, "display_name": "New", "version": "1", "interface": "llm-runtime"}
    return "/models/new/", {"editor": "form", **fields, "metadata__context_length": "4096"}


def _decide(decision: str, data: dict[str, Any] | None = None) -> Build:
    return lambda w: (f"/approvals/{w.submitted().pk}/{decision}/", None if data is None else dict(data))


def _approve(w: World) -> tuple[str, dict[str, Any]]:
    """The approve form as the approvals page renders it: the revision's digest in a hidden field."""
    return f"/approvals/{w.submitted().pk}/approve/", {"digest": w.submitted().digest}


def _revoke(own: bool, post: bool = True) -> Build:
    return lambda w: (f"/tokens/{w.token(own).pk}/revoke/", {} if post else None)


def _user_url(action: str, active: bool = True) -> Callable[[World], str]:
    return lambda w: f"/users/{w.other(active).pk}/{action}/"


OLD_PASSWORD = "matrix-old-password-1"
NEW_PASSWORD = "matrix-new-password-2"


def _set_old_password(w: World) -> None:
    if w.user.is_authenticated:
        w.user.set_password(OLD_PASSWORD)
        w.user.save(update_fields=["password"])


def _password_changed(w: World, response: Any) -> bool:
    if not w.user.is_authenticated:
        return False
    w.user.refresh_from_db()
    return bool(w.user.check_password(NEW_PASSWORD))


def _new_exists(w: World, response: Any) -> bool:
    return Asset.objects.filter(asset_id=NEW_ID).exists()


def _state_is(state: str) -> Done:
    return lambda w, response: w.state() == state


ROWS: dict[str, Row] = {
    # Pages.
    "GET /": Row("model-list", "view", 200, _page("/")),
    "GET /models/new/": Row("model-create", "edit", 200, _page("/models/new/")),
    "GET /models/{asset_id}/": Row("model-detail", "view", 200, _get(_asset_url())),
    "GET /models/{asset_id}/edit/": Row("model-edit", "edit", 200, _get(_asset_url("edit/"))),
    # The no-JavaScript confirmation pages of the lifecycle buttons.
    "GET /models/{asset_id}/wake/": Row("model-action", "operate", 200, _get(_asset_url("wake/"))),
    "GET /models/{asset_id}/sleep/": Row("model-action", "operate", 200, _get(_asset_url("sleep/"))),
    "GET /models/{asset_id}/restart/": Row("model-action", "operate", 200, _get(_asset_url("restart/"))),
    "GET /import/": Row("import", "edit", 200, _page("/import/")),
    "GET /approvals/": Row("approvals", "view", 200, _page("/approvals/")),
    "GET /activity/": Row("activity", "view", 200, _page("/activity/")),
    "GET /hosts/": Row("hosts", "view", 200, _page("/hosts/")),
    "GET /audit/": Row("audit", "view", 200, _page("/audit/")),
    "GET /tokens/": Row("tokens", "view", 200, _page("/tokens/")),
    "GET /users/": Row("users", "admin", 200, _page("/users/")),
    # The confirmation pages of the Users page's actions (disabling and resetting are destructive).
    "GET /users/{user_id}/disable/": Row("user-action", "admin", 200, _get(_user_url("disable"))),
    "GET /users/{user_id}/reset-password/": Row(
        "user-action", "admin", 200, _get(_user_url("reset-password"))
    ),
    "GET /account/password/": Row("password-change", "signed-in", 200, _page("/account/password/")),
    # Actions are POST-only: a GET changes nothing.
    "GET /approvals/{revision_id}/approve/": Row("approval-decide", "signed-in", 405, _decide("approve")),
    "GET /tokens/{token_id}/revoke/": Row("token-revoke", "signed-in", 405, _revoke(True, post=False)),
    # Actions.
    "POST /models/new/": Row("model-create", "edit", 302, _new_form, _new_exists),
    "POST /models/{asset_id}/edit/": Row(
        "model-edit",
        "edit",
        302,
        _edit_form,
        lambda w, r: governance.open_revision(w.live()) is not None,
    ),
    "POST /models/{asset_id}/wake/": Row(
        "model-action", "operate", 302, _post(_asset_url("wake/", "sleeping")), _state_is("starting")
    ),
    "POST /models/{asset_id}/sleep/": Row(
        "model-action", "operate", 302, _post(_asset_url("sleep/")), _state_is("stopping")
    ),
    "POST /models/{asset_id}/restart/": Row(
        "model-action", "operate", 302, _post(_asset_url("restart/")), _state_is("starting")
    ),
    "POST /import/ (dry run)": Row(
        "import",
        "edit",
        200,
        lambda w: ("/import/", {"text": IMPORT_YAML}),
        lambda w, r: f'data-plan-asset="{NEW_ID}"' in r.content.decode() and not _new_exists(w, r),
    ),
    "POST /import/ (confirm)": Row(
        "import", "edit", 302, lambda w: ("/import/", {"yaml": IMPORT_YAML, "confirm": "1"}), _new_exists
    ),
    "POST /approvals/{revision_id}/approve/": Row(
        "approval-decide", "approve", 302, _approve, lambda w, r: w.status() == "approved"
    ),
    "POST /approvals/{revision_id}/reject/": Row(
        "approval-decide",
        "approve",
        302,
        _decide("reject", {"comment": "not this one"}),
        lambda w, r: w.status() == "rejected",
    ),
    "POST /tokens/": Row(
        "tokens",
        "view",
        200,
        lambda w: ("/tokens/", {"label": "matrix", "scopes": ["read"]}),
        lambda w, r: ApiToken.objects.filter(name="matrix").exists() and 'value="hub_' in r.content.decode(),
    ),
    "POST /tokens/{token_id}/revoke/ (own)": Row(
        "token-revoke", "signed-in", 302, _revoke(True), lambda w, r: w.revoked()
    ),
    "POST /tokens/{token_id}/revoke/ (someone else's)": Row(
        "token-revoke", "admin", 302, _revoke(False), lambda w, r: w.revoked(), denied=404
    ),
    "POST /users/": Row(
        "users",
        "admin",
        200,
        lambda w: ("/users/", {"username": "matrix-created", "role": "editor"}),
        lambda w, r: User.objects.filter(username="matrix-created").exists(),
    ),
    "POST /users/{user_id}/disable/": Row(
        "user-action", "admin", 302, _post(_user_url("disable")), lambda w, r: not w.fresh_other().is_active
    ),
    "POST /users/{user_id}/enable/": Row(
        "user-action",
        "admin",
        302,
        _post(_user_url("enable", active=False)),
        lambda w, r: w.fresh_other().is_active,
    ),
    "POST /users/{user_id}/role/": Row(
        "user-action",
        "admin",
        302,
        _post(_user_url("role"), {"role": "approver"}),
        lambda w, r: role_of(w.fresh_other()) == "approver",
    ),
    "POST /users/{user_id}/reset-password/": Row(
        "user-action",
        "admin",
        200,
        _post(_user_url("reset-password")),
        lambda w, r: w.fresh_other().has_usable_password() and 'id="new-password"' in r.content.decode(),
    ),
    "POST /account/password/": Row(
        "password-change",
        "signed-in",
        302,
        lambda w: (
            "/account/password/",
            {
                "old_password": OLD_PASSWORD,
                "new_password": NEW_PASSWORD,
                "new_password_again": NEW_PASSWORD,
            },
        ),
        _password_changed,
        prepare=_set_old_password,
    ),
    # Pages are read-only: a POST to one is refused rather than rendered.
    "POST /": Row("model-list", "signed-in", 405, lambda w: ("/", {})),
    "POST /models/{asset_id}/": Row("model-detail", "signed-in", 405, _post(_asset_url())),
    "POST /approvals/": Row("approvals", "signed-in", 405, lambda w: ("/approvals/", {})),
    "POST /activity/": Row("activity", "signed-in", 405, lambda w: ("/activity/", {})),
    "POST /hosts/": Row("hosts", "signed-in", 405, lambda w: ("/hosts/", {})),
    "POST /audit/": Row("audit", "signed-in", 405, lambda w: ("/audit/", {})),
}


def allowed(row: Row, role: str) -> bool:
    if role == "anonymous":
        return False
    return row.need == "signed-in" or role in MAY[row.need]


def browser(user: Any) -> Client:
    """A client as a browser is: CSRF checked, the cookie set, the token in each form."""
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = CSRF_SECRET
    if user.is_authenticated:
        client.force_login(user)
    return client


def request(client: Client, key: str, world: World) -> Any:
    url, data = ROWS[key].build(world)
    if key.startswith("GET "):
        return client.get(url)
    return client.post(url, {**(data or {}), "csrfmiddlewaretoken": CSRF_SECRET})


def test_every_url_has_a_get_and_a_post_row() -> None:
    names = {p.name for p in urlpatterns if isinstance(p, URLPattern)}
    for method in ("GET", "POST"):
        covered = {row.name for key, row in ROWS.items() if key.startswith(method + " ")}
        assert names == covered, f"{method} rows: missing {names - covered}, unknown {covered - names}"


@pytest.mark.parametrize("role", ROLES_UNDER_TEST)
@pytest.mark.parametrize("key", list(ROWS))
def test_ui_authorization(key: str, role: str) -> None:
    row = ROWS[key]
    user = user_for(role)
    world = World(user)
    if row.prepare is not None:
        row.prepare(world)
    response = request(browser(user), key, world)
    if role == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")
    else:
        assert response.status_code == (row.status if allowed(row, role) else row.denied)
    if row.done is not None:
        assert row.done(world, response) is allowed(row, role)


def test_a_post_without_the_csrf_token_is_refused() -> None:
    client = browser(user_with_role("admin"))
    revision = submitted_revision()
    response = client.post(f"/approvals/{revision.pk}/approve/")
    assert response.status_code == 403
    revision.refresh_from_db()
    assert revision.status == RevisionStatus.SUBMITTED
