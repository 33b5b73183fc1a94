"""The Tokens page offers only the scopes the role may hold and shows what a token grants now."""

from __future__ import annotations

import re
from typing import Any

import pytest

from actions.tokens import do_create_token
from actions.users import do_set_role
from models_admin.models import TOKEN_SCOPES, ApiToken
from models_admin.roles import ROLES, SCOPES_FOR_ROLE
from tests.governance.factories import actor, user_with_role

pytestmark = pytest.mark.django_db


def offered(page: str) -> set[str]:
    return set(re.findall(r'<input type="checkbox" name="scopes" value="([a-z]+)"', page))


@pytest.mark.parametrize("role", ROLES)
def test_it_offers_only_the_scopes_the_role_may_hold(client_for: Any, role: str) -> None:
    page = client_for(user_with_role(role)).get("/tokens/").content.decode()
    assert offered(page) == set(SCOPES_FOR_ROLE[role])


def test_a_forged_scope_is_refused_on_the_scopes_field(client_for: Any) -> None:
    viewer = user_with_role("viewer")
    page = client_for(viewer).post("/tokens/", {"label": "x", "scopes": ["read", "gateway"]}).content.decode()
    assert "a viewer may not hold gateway" in page
    assert not ApiToken.objects.filter(user=viewer).exists()


def test_it_shows_the_effective_scopes_of_a_token_whose_owner_lost_a_role(client_for: Any) -> None:
    owner = user_with_role("editor")
    do_create_token(owner, name="wide", scopes=["read", "write"], actor=actor(owner))
    do_create_token(owner, name="narrow", scopes=["read"], actor=actor(owner))
    client = client_for(owner)
    assert "Effective now" not in client.get("/tokens/").content.decode()

    do_set_role(owner, "viewer", actor=actor(user_with_role("admin")))
    page = client.get("/tokens/").content.decode()
    rows = [r.split("</tr>")[0] for r in page.split('data-token="')[1:]]
    wide = next(r for r in rows if "wide" in r)
    assert "read, write" in wide
    assert "Effective now: read (narrowed to" in wide
    assert "Effective now" not in next(r for r in rows if "narrow" in r)


def test_every_scope_is_offered_to_someone() -> None:
    assert set().union(*SCOPES_FOR_ROLE.values()) == set(TOKEN_SCOPES)
