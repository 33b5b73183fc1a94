"""Which role may hold which token scope: checked when a token is made, and again each time it is used.

The expected grants below are written by hand (not read from ``roles``): a viewer may read and
call models; each role above adds its own action's scope; only an admin may act as a gateway.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from actions.revisions import do_approve_revision
from actions.tokens import do_create_token
from actions.users import do_set_role
from models_admin.audit import Actor
from models_admin.governance import InvalidInput, PermissionRefused
from models_admin.models import ApiToken
from models_admin.tokens import authenticate_token
from tests.governance.factories import actor, submitted_revision, user_with_role

pytestmark = pytest.mark.django_db

MAY_HOLD = {
    "viewer": {"read", "inference"},
    "operator": {"read", "inference", "operate"},
    "editor": {"read", "inference", "operate", "write"},
    "approver": {"read", "inference", "operate", "write", "approve"},
    "admin": {"read", "inference", "operate", "write", "approve", "gateway"},
}
ALL_SCOPES = ("read", "write", "operate", "approve", "gateway", "inference")


@pytest.mark.parametrize("role", sorted(MAY_HOLD))
@pytest.mark.parametrize("scope", ALL_SCOPES)
def test_a_role_mints_exactly_the_scopes_it_may_hold(role: str, scope: str) -> None:
    user = user_with_role(role)
    if scope in MAY_HOLD[role]:
        token, _ = do_create_token(user, actor=actor(user), scopes=[scope])
        assert token.scopes == [scope]
        return
    with pytest.raises(InvalidInput) as excinfo:
        do_create_token(user, actor=actor(user), scopes=["read", scope])
    assert excinfo.value.errors[0].path == "scopes"
    assert scope in excinfo.value.errors[0].message
    assert not ApiToken.objects.exists()


def test_a_viewer_cannot_mint_a_gateway_token() -> None:
    viewer = user_with_role("viewer")
    with pytest.raises(InvalidInput, match="scopes: a viewer may not hold gateway"):
        do_create_token(viewer, actor=actor(viewer), scopes=["gateway", "inference"])


def test_an_admin_cannot_give_a_viewer_a_scope_beyond_the_viewers_role() -> None:
    admin, viewer = user_with_role("admin"), user_with_role("viewer")
    with pytest.raises(InvalidInput):
        do_create_token(viewer, actor=actor(admin), scopes=["gateway"])
    token, _ = do_create_token(viewer, actor=actor(admin), scopes=["inference"])
    assert token.user == viewer


def test_a_user_without_a_role_mints_no_token() -> None:
    nobody = user_with_role(None)
    with pytest.raises(InvalidInput) as excinfo:
        do_create_token(nobody, actor=actor(nobody), scopes=["read"])
    assert excinfo.value.errors[0].path == "scopes"


def test_lowering_the_owners_role_narrows_the_token_at_once() -> None:
    approver = user_with_role("approver")
    admin = user_with_role("admin")
    token, secret = do_create_token(approver, actor=actor(approver), scopes=["read", "approve", "inference"])
    assert authenticate_token(secret, remote_addr="127.0.0.1").has_scope("approve")  # type: ignore[union-attr]
    do_set_role(approver, "viewer", actor=actor(admin))
    narrowed = authenticate_token(secret, remote_addr="127.0.0.1")
    assert narrowed is not None
    assert narrowed.has_scope("read")
    assert narrowed.has_scope("inference")
    assert not narrowed.has_scope("approve")
    assert ApiToken.objects.get(pk=token.pk).scopes == ["approve", "inference", "read"]  # stored as minted
    revision = submitted_revision()
    with pytest.raises(PermissionRefused):
        do_approve_revision(revision, actor=Actor.for_token(narrowed), digest=revision.digest)
    do_set_role(approver, "approver", actor=actor(admin))
    assert authenticate_token(secret, remote_addr="127.0.0.1").has_scope("approve")  # type: ignore[union-attr]


def test_a_demoted_admins_gateway_token_loses_the_gateway_scope() -> None:
    owner, admin = user_with_role("admin"), user_with_role("admin")
    _, secret = do_create_token(owner, actor=actor(owner), scopes=["gateway", "read"])
    do_set_role(owner, "editor", actor=actor(admin))
    token = authenticate_token(secret, remote_addr="127.0.0.1")
    assert token is not None
    assert not token.has_scope("gateway")
    assert token.has_scope("read")


def test_the_tokens_page_shows_a_scope_the_role_may_not_hold_inline(client_for: Any) -> None:
    viewer = user_with_role("viewer")
    response = client_for(viewer).post("/tokens/", {"label": "mine", "scopes": ["inference", "gateway"]})
    assert response.status_code == 200
    form = response.context["form"]
    assert "gateway" in " ".join(form.errors["scopes"])
    assert not ApiToken.objects.exists()
    assert "errorlist" in response.content.decode()


def test_create_api_token_refuses_a_scope_the_role_may_not_hold_in_one_line() -> None:
    viewer = user_with_role("viewer")
    with pytest.raises(CommandError) as excinfo:
        call_command("create_api_token", viewer.username, "--scopes", "gateway,inference")
    message = str(excinfo.value)
    assert message.startswith("--scopes: a viewer may not hold gateway")
    assert "\n" not in message
    assert not ApiToken.objects.exists()


def test_role_and_token_changes_move_the_authorization_generation_and_logins_do_not(
    redis_client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from models_admin.credentials import generation
    from runtimes.gateway.cache import connect_signals

    connect_signals()
    user, admin = user_with_role("approver"), user_with_role("admin")

    def disable() -> None:
        user.is_active = False
        user.save()

    steps: list[Callable[[], object]] = [
        lambda: do_set_role(user, "viewer", actor=actor(admin)),
        lambda: do_create_token(user, actor=actor(user), scopes=["read"]),
        disable,
    ]
    for step in steps:
        before = generation()
        assert before is not None
        with django_capture_on_commit_callbacks(execute=True):
            step()
        assert (generation() or 0) > before
    before = generation()
    with django_capture_on_commit_callbacks(execute=True):
        user.save(update_fields=["last_login"])
    assert generation() == before
