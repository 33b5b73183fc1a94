"""Accounts: the services behind the Users page and ``manage.py create_user``, and the password page."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client

from actions.users import (
    do_change_password,
    do_create_user,
    do_reset_password,
    do_set_role,
    do_set_user_active,
)
from models_admin.audit import Actor
from models_admin.governance import InvalidInput, PermissionRefused
from models_admin.models import AuditEntry
from models_admin.roles import UnknownRole, role_of
from models_admin.ui.user_rows import user_rows
from tests.conftest import ROOT, child_env
from tests.governance.factories import actor, user_with_role

pytestmark = pytest.mark.django_db


def audit_actions(object_id: str) -> list[str]:
    return list(
        AuditEntry.objects.filter(object_id=object_id).order_by("pk").values_list("action", flat=True)
    )


def test_creating_a_user_gives_the_role_a_usable_password_and_audits_without_it() -> None:
    admin = user_with_role("admin")
    user, password = do_create_user("carol", role="approver", actor=actor(admin))
    assert user.is_active
    assert user.check_password(password)
    assert len(password) >= 16
    assert role_of(user) == "approver"
    assert audit_actions("carol") == ["user.create", "role.change"]
    assert password not in str(list(AuditEntry.objects.values_list("before", "after", "detail")))


@pytest.mark.parametrize(
    ("username", "role", "password", "field"),
    [
        ("taken", "viewer", None, "username: 'taken' already exists"),
        ("TAKEN", "viewer", None, "username: 'TAKEN' already exists"),
        ("no spaces", "viewer", None, "username: letters, digits"),
        ("", "viewer", None, "username: required"),
        ("dave", "boss", None, "role: must be one of viewer, operator"),
        ("dave", "viewer", "123", "password: This password is too short"),
    ],
)
def test_creating_a_user_names_the_bad_field_and_writes_nothing(
    username: str, role: str, password: str | None, field: str
) -> None:
    user_with_role("viewer", username="taken")
    with pytest.raises(InvalidInput, match=field):
        do_create_user(username, role=role, password=password, actor=Actor.cli())
    assert not User.objects.filter(username="dave").exists()
    assert not AuditEntry.objects.filter(action="user.create").exists()


def test_disabling_ends_login_and_is_idempotent_and_audited() -> None:
    admin = user_with_role("admin")
    target = user_with_role("editor")
    assert do_set_user_active(target, False, actor=actor(admin)) is True
    assert do_set_user_active(target, False, actor=actor(admin)) is False
    target.refresh_from_db()
    assert not target.is_active
    assert do_set_user_active(target, True, actor=actor(admin)) is True
    assert audit_actions(target.username) == ["user.disable", "user.enable"]


def test_no_one_disables_or_demotes_themselves() -> None:
    admin = user_with_role("admin")
    with pytest.raises(InvalidInput, match="user: you cannot disable your own account"):
        do_set_user_active(admin, False, actor=actor(admin))
    with pytest.raises(UnknownRole, match="role: you cannot lower your own role"):
        do_set_role(admin, "viewer", actor=actor(admin))
    admin.refresh_from_db()
    assert admin.is_active
    assert role_of(admin) == "admin"


def test_a_superuser_cannot_be_given_a_lesser_role() -> None:
    root = user_with_role(None, is_superuser=True)
    with pytest.raises(UnknownRole, match="is a superuser, always admin"):
        do_set_role(root, "viewer", actor=Actor.cli())


def test_resetting_a_password_replaces_it_and_the_old_one_stops_working() -> None:
    admin = user_with_role("admin")
    target = user_with_role("viewer")
    target.set_password("the-old-password-7")
    target.save()
    password = do_reset_password(target, actor=actor(admin))
    target.refresh_from_db()
    assert target.check_password(password)
    assert not target.check_password("the-old-password-7")
    assert audit_actions(target.username) == ["user.password_reset"]


def test_changing_your_password_needs_the_current_one_and_a_strong_new_one() -> None:
    user = user_with_role("viewer")
    user.set_password("current-password-9")
    user.save()
    with pytest.raises(InvalidInput, match="old_password: is not your current password"):
        do_change_password(user, old_password="wrong", new_password="brand-new-password-3", actor=actor(user))
    with pytest.raises(InvalidInput, match="new_password: This password is too short"):
        do_change_password(user, old_password="current-password-9", new_password="x1", actor=actor(user))
    do_change_password(
        user, old_password="current-password-9", new_password="brand-new-password-3", actor=actor(user)
    )
    user.refresh_from_db()
    assert user.check_password("brand-new-password-3")
    assert audit_actions(user.username) == ["user.password_change"]


def test_no_one_changes_another_persons_password_this_way() -> None:
    admin = user_with_role("admin")
    target = user_with_role("viewer")
    with pytest.raises(PermissionRefused):
        do_change_password(target, old_password="!", new_password="brand-new-password-3", actor=actor(admin))


def test_user_rows_show_the_highest_role_in_two_queries(django_assert_num_queries: Any) -> None:
    user_with_role("operator", username="row-op")
    user_with_role(None, username="row-none")
    user_with_role(None, username="row-root", is_superuser=True)
    with django_assert_num_queries(2):
        rows = {r.user.username: r.role for r in user_rows()}
    assert rows == {"row-op": "operator", "row-none": None, "row-root": "admin"}


# ---- manage.py create_user -------------------------------------------------------------


def run(*args: str, stdin: str | None = None, monkeypatch: Any = None) -> str:
    out = StringIO()
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", StringIO(stdin))
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_create_user_prints_only_the_generated_password() -> None:
    out = run("create_user", "erin", "--role", "editor").strip()
    user = User.objects.get(username="erin")
    assert user.check_password(out)
    assert role_of(user) == "editor"
    assert AuditEntry.objects.get(action="user.create").source == "cli"


def test_create_user_reads_the_password_from_stdin(monkeypatch: Any) -> None:
    out = run(
        "create_user",
        "fred",
        "--role",
        "viewer",
        "--password-stdin",
        stdin="fred-secret-pw-5\n",
        monkeypatch=monkeypatch,
    )
    assert out.strip() == "fred: viewer"
    assert User.objects.get(username="fred").check_password("fred-secret-pw-5")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("gina", "--role", "boss"), "--role: must be one of viewer, operator"),
        (("taken", "--role", "viewer"), "username: 'taken' already exists"),
        (("gina", "--role", "viewer", "--as-user", "taken"), "refused: taken may not admin"),
    ],
)
def test_create_user_names_what_is_wrong(args: tuple[str, ...], message: str) -> None:
    user_with_role("viewer", username="taken")
    with pytest.raises(CommandError, match=message):
        run("create_user", *args)
    assert not User.objects.filter(username="gina").exists()


@pytest.mark.django_db(transaction=True)
def test_create_user_exits_non_zero_with_one_line_for_an_existing_name() -> None:
    user_with_role("viewer", username="taken")
    done = subprocess.run(
        [sys.executable, "manage.py", "create_user", "taken", "--role", "viewer"],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert done.stdout == ""
    assert done.stderr.strip() == "CommandError: username: 'taken' already exists"


# ---- the password page -----------------------------------------------------------------


def test_the_password_page_changes_it_and_keeps_you_signed_in(client: Client) -> None:
    user = user_with_role("viewer")
    user.set_password("current-password-9")
    user.save()
    client.force_login(user)
    answer = client.post(
        "/account/password/",
        {
            "old_password": "current-password-9",
            "new_password": "brand-new-password-3",
            "new_password_again": "brand-new-password-3",
        },
    )
    assert answer.status_code == 302
    assert client.get("/account/password/").status_code == 200  # still signed in
    user.refresh_from_db()
    assert user.check_password("brand-new-password-3")


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"old_password": "wrong"}, "old_password", "is not your current password"),
        ({"new_password": "x1", "new_password_again": "x1"}, "new_password", "too short"),
        ({"new_password_again": "something-else-4"}, "new_password_again", "differ"),
    ],
)
def test_the_password_page_shows_the_error_by_its_field(
    client: Client, data: dict[str, str], field: str, message: str
) -> None:
    user = user_with_role("viewer")
    user.set_password("current-password-9")
    user.save()
    client.force_login(user)
    form = {
        "old_password": "current-password-9",
        "new_password": "brand-new-password-3",
        "new_password_again": "brand-new-password-3",
        **data,
    }
    answer = client.post("/account/password/", form)
    assert answer.status_code == 200
    assert message in " ".join(answer.context["form"].errors[field])
    user.refresh_from_db()
    assert user.check_password("current-password-9")


def test_the_users_page_lists_accounts_and_shows_a_new_password_once(client: Client) -> None:
    admin = user_with_role("admin", username="the-admin")
    user_with_role("viewer", username="quiet", is_active=False)
    client.force_login(admin)
    page = client.get("/users/").content.decode()
    assert 'data-user="quiet"' in page
    assert "Disabled" in page
    answer = client.post("/users/", {"username": "newbie", "role": "operator"})
    shown = answer.context["created"]
    assert shown[0] == "newbie"
    assert User.objects.get(username="newbie").check_password(shown[1])
    assert 'value="' + shown[1] + '"' in answer.content.decode()
    assert shown[1] not in client.get("/users/").content.decode()
    bad = client.post("/users/", {"username": "newbie", "role": "operator"})
    assert "already exists" in " ".join(bad.context["form"].errors["username"])
