"""Governance commands: import_assets (for review / --approved), set_role, create/revoke_api_token."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from models_admin.models import ApiToken, Asset, AuditEntry, RevisionStatus
from models_admin.roles import role_of
from models_admin.tokens import SECRET_RE, authenticate_token
from tests.governance.factories import asset_document, user_with_role

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def catalog_file(tmp_path: Path, *docs: dict[str, object]) -> str:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return str(path)


def test_import_submits_revisions_for_review_and_makes_nothing_live(tmp_path: Path) -> None:
    out = run("import_assets", catalog_file(tmp_path, asset_document("imp-a"), asset_document("imp-b")))
    assert "submitted for approval" in out
    for asset in Asset.objects.all():
        assert asset.live_spec is None
        assert asset.revisions.get().status == RevisionStatus.SUBMITTED


def test_reimporting_a_change_withdraws_the_pending_revision_for_a_new_one(tmp_path: Path) -> None:
    run("import_assets", catalog_file(tmp_path, asset_document("imp-a")))
    run("import_assets", catalog_file(tmp_path, asset_document("imp-a", version="2")))
    first, second = Asset.objects.get().revisions.order_by("number")
    assert (first.status, first.document["version"]) == (RevisionStatus.WITHDRAWN, "1.0.0")
    assert (second.status, second.document["version"]) == (RevisionStatus.SUBMITTED, "2")
    actions = list(AuditEntry.objects.order_by("id").values_list("action", flat=True))
    assert actions == [
        "asset.create",
        "revision.submit",
        "revision.withdraw",
        "asset.edit",
        "revision.submit",
    ]


def test_import_approved_needs_an_admin_and_is_audited(tmp_path: Path) -> None:
    path = catalog_file(tmp_path, asset_document("imp-a"))
    with pytest.raises(CommandError, match="--approved: needs --as-user"):
        run("import_assets", "--approved", path)
    editor = user_with_role("editor")
    with pytest.raises(CommandError, match="refused"):
        run("import_assets", "--approved", "--as-user", editor.username, path)
    assert not Asset.objects.exists()
    assert AuditEntry.objects.filter(action="authz.refused", actor_user=editor).exists()

    admin = user_with_role("admin")
    out = run("import_assets", "--approved", "--as-user", admin.username, path)
    assert "approved: live now" in out
    asset = Asset.objects.get()
    assert asset.live_spec == asset.spec
    entry = AuditEntry.objects.get(action="import.approved")
    assert entry.actor_user == admin
    assert entry.source == "cli"
    assert entry.after == ["imp-a"]
    assert "bootstrapping" in AuditEntry.objects.get(action="revision.approve").detail


def test_import_as_an_unknown_user_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="--as-user: no user 'ghost'"):
        run("import_assets", "--as-user", "ghost", catalog_file(tmp_path, asset_document()))


def test_set_role_gives_exactly_one_role_and_is_audited() -> None:
    user = user_with_role("viewer")
    assert run("set_role", user.username, "approver").strip() == f"{user.username}: approver"
    assert role_of(user) == "approver"
    assert list(user.groups.values_list("name", flat=True)) == ["approver"]
    entry = AuditEntry.objects.get(action="role.change")
    assert entry.before == {"roles": ["viewer"]}
    assert entry.after == {"roles": ["approver"]}
    assert "unchanged" in run("set_role", user.username, "approver")
    run("set_role", user.username, "none")
    assert role_of(user) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [(("nobody", "editor"), "username: no user 'nobody'"), (("{user}", "boss"), "role: must be one of")],
)
def test_set_role_names_what_is_wrong(args: tuple[str, str], message: str) -> None:
    user = user_with_role()
    with pytest.raises(CommandError, match=message):
        run("set_role", *(a.format(user=user.username) for a in args))


def test_set_role_as_a_non_admin_is_refused() -> None:
    editor = user_with_role("editor")
    with pytest.raises(CommandError, match="refused"):
        run("set_role", "--as-user", editor.username, editor.username, "admin")
    assert role_of(editor) == "editor"


def test_create_api_token_prints_only_the_secret() -> None:
    user = user_with_role("admin")
    out = run("create_api_token", user.username, "--scopes", "gateway,inference", "--expires-days", "7")
    secret = out.strip()
    assert out == secret + "\n"
    assert SECRET_RE.match(secret)
    token = authenticate_token(secret, remote_addr="127.0.0.1")
    assert token is not None
    assert token.scopes == ["gateway", "inference"]
    assert token.expires_at is not None
    assert AuditEntry.objects.get(action="token.create").source == "cli"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--scopes", "gateway,root"), "--scopes: unknown root"),
        (("--scopes", "read", "--expires-days", "0"), "--expires-days: must be at least 1"),
        (("--scopes", "read", "--allow-network", "x"), r"allowed_networks\[0\]"),
    ],
)
def test_create_api_token_names_the_bad_option(args: tuple[str, ...], message: str) -> None:
    user = user_with_role()
    with pytest.raises(CommandError, match=message):
        run("create_api_token", user.username, *args)
    assert not ApiToken.objects.exists()


def test_revoke_api_token_by_prefix() -> None:
    user = user_with_role("viewer")
    secret = run("create_api_token", user.username, "--scopes", "read").strip()
    prefix = secret.split("_")[1]
    assert "revoked" in run("revoke_api_token", f"hub_{prefix}")
    assert authenticate_token(secret, remote_addr="127.0.0.1") is None
    with pytest.raises(CommandError, match="prefix: no token"):
        run("revoke_api_token", "hub_000000000000")


def test_up_loads_the_demo_catalog_live_as_system_bootstrapping() -> None:
    # The exact call `manage.py up` makes on an empty database.
    from models_admin.audit import Actor
    from models_admin.demo import do_load_demo

    plan, _missing = do_load_demo(actor=Actor.system())
    assert len(plan) == Asset.objects.count() >= 8
    for asset in Asset.objects.all():
        assert asset.live_spec == asset.spec
        assert asset.revisions.get().status == RevisionStatus.APPROVED
    entry = AuditEntry.objects.get(action="import.approved")
    assert entry.source == "system"
    assert entry.actor_user is None
