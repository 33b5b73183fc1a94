"""API tokens: shown once, stored as a keyed hash, scoped, expiring, network-bound, revocable."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from actions.revisions import do_approve_revision
from actions.tokens import do_create_token, do_revoke_token
from models_admin.audit import Actor
from models_admin.governance import FourEyesViolation, InvalidInput, PermissionRefused
from models_admin.models import ApiToken, AuditEntry, RevisionStatus
from models_admin.tokens import SECRET_RE, authenticate_token
from tests.governance.factories import actor, submitted_revision, user_with_role

pytestmark = pytest.mark.django_db


def make_token(user: Any = None, **kwargs: Any) -> tuple[ApiToken, str]:
    user = user or user_with_role("editor")
    kwargs.setdefault("scopes", ["read", "write"])
    return do_create_token(user, actor=actor(user), **kwargs)


def test_it_authenticates_a_fresh_token_and_identifies_it_by_prefix() -> None:
    token, secret = make_token(name="ci")
    assert SECRET_RE.match(secret)
    assert secret.startswith(f"hub_{token.prefix}_")
    found = authenticate_token(secret, remote_addr="127.0.0.1")
    assert found is not None
    assert found.pk == token.pk
    assert found.user == token.user
    assert found.has_scope("write")
    assert not found.has_scope("approve")
    assert found.last_used_at is not None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s[:-1] + ("A" if s[-1] != "A" else "B"),
        lambda s: "",
        lambda s: "hub_nope",
        lambda s: s + "x",
    ],
)
def test_a_wrong_or_malformed_secret_is_refused(mangle: Any) -> None:
    _, secret = make_token()
    assert authenticate_token(mangle(secret), remote_addr="127.0.0.1") is None


def test_a_revoked_token_stops_at_once_and_revoking_is_audited() -> None:
    token, secret = make_token()
    assert do_revoke_token(token, actor=actor(token.user))
    assert authenticate_token(secret, remote_addr="127.0.0.1") is None
    assert not do_revoke_token(token, actor=actor(token.user))
    assert AuditEntry.objects.filter(action="token.revoke", object_id=token.prefix).count() == 1


def test_an_expired_token_is_refused() -> None:
    token, secret = make_token(expires_at=timezone.now() + timedelta(days=1))
    assert authenticate_token(secret, remote_addr="127.0.0.1") is not None
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert authenticate_token(secret, remote_addr="127.0.0.1") is None


def test_allowed_networks_bind_a_token_to_addresses() -> None:
    _, secret = make_token(allowed_networks=["10.0.0.0/8", "::1/128"])
    assert authenticate_token(secret, remote_addr="10.1.2.3") is not None
    assert authenticate_token(secret, remote_addr="::1") is not None
    assert authenticate_token(secret, remote_addr="192.168.0.1") is None
    assert authenticate_token(secret, remote_addr=None) is None
    assert authenticate_token(secret, remote_addr="not-an-ip") is None


def test_a_disabled_users_tokens_stop_at_once() -> None:
    token, secret = make_token()
    token.user.is_active = False
    token.user.save()
    assert authenticate_token(secret, remote_addr="127.0.0.1") is None


def test_a_disabled_users_session_stops_at_once(client_for: Any) -> None:
    user = user_with_role("viewer")
    session_key = client_for(user).session.session_key
    request = RequestFactory().get("/")
    request.session = SessionStore(session_key=session_key)
    assert get_user(request).is_authenticated
    user.is_active = False
    user.save()
    request.session = SessionStore(session_key=session_key)
    assert not get_user(request).is_authenticated


def test_last_used_is_written_at_most_once_a_minute() -> None:
    token, secret = make_token()
    authenticate_token(secret, remote_addr="127.0.0.1")
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    with CaptureQueriesContext(connection) as queries:
        authenticate_token(secret, remote_addr="127.0.0.1")
    assert not [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    authenticate_token(secret, remote_addr="127.0.0.1")
    assert ApiToken.objects.get(pk=token.pk).last_used_at > first  # type: ignore[operator]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"scopes": ["read", "sudo"]}, "scopes"),
        ({"scopes": []}, "scopes"),
        ({"scopes": ["read"], "allowed_networks": ["10.0.0.0/8", "nowhere"]}, "allowed_networks[1]"),
        ({"scopes": ["read"], "expires_at": timezone.now() - timedelta(days=1)}, "expires_at"),
    ],
)
def test_bad_token_input_names_the_field(kwargs: dict[str, Any], field: str) -> None:
    user = user_with_role("viewer")
    with pytest.raises(InvalidInput) as excinfo:
        do_create_token(user, actor=actor(user), **kwargs)
    assert excinfo.value.errors[0].path == field
    assert not ApiToken.objects.exists()


def test_token_secrets_appear_neither_in_the_database_nor_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token, secret = make_token(name="deploy")
    random_part = secret.split("_", 2)[2]
    authenticate_token(secret, remote_addr="127.0.0.1")
    authenticate_token(secret + "x", remote_addr="127.0.0.1")
    authenticate_token(secret, remote_addr="bogus")
    do_revoke_token(token, actor=actor(token.user))
    authenticate_token(secret, remote_addr="127.0.0.1")
    with connection.cursor() as cursor:
        dumps: list[str] = []
        for table in ("models_admin_apitoken", "models_admin_auditentry"):
            cursor.execute(f"SELECT t::text FROM {table} t")
            dumps.extend(row[0] for row in cursor.fetchall())
    database = "\n".join(dumps)
    assert token.prefix in database  # the dump is real
    assert random_part not in database
    assert secret not in database
    assert "api token refused" in caplog.text  # the logs are real
    assert random_part not in caplog.text


def test_through_a_token_a_submitter_still_cannot_approve_their_own() -> None:
    submitter = user_with_role("approver")
    revision = submitted_revision(author=submitter)
    token, _ = do_create_token(submitter, actor=actor(submitter), scopes=["read", "approve"])
    with pytest.raises(FourEyesViolation):
        do_approve_revision(revision, actor=Actor.for_token(token), digest=revision.digest)
    refusal = AuditEntry.objects.get(action="authz.refused")
    assert refusal.actor_token == token
    assert f"via token hub_{token.prefix}" in refusal.actor_label

    second = user_with_role("approver")
    second_token, _ = do_create_token(second, actor=actor(second), scopes=["approve"])
    approved = do_approve_revision(revision, actor=Actor.for_token(second_token), digest=revision.digest)
    assert approved.status == RevisionStatus.APPROVED
    assert AuditEntry.objects.get(action="revision.approve").actor_token == second_token


def test_a_token_without_the_approve_scope_cannot_approve_even_for_an_approver() -> None:
    approver = user_with_role("approver")
    token, _ = do_create_token(approver, actor=actor(approver), scopes=["read", "write"])
    revision = submitted_revision()
    with pytest.raises(PermissionRefused) as excinfo:
        do_approve_revision(revision, actor=Actor.for_token(token), digest=revision.digest)
    assert not isinstance(excinfo.value, FourEyesViolation)


def test_a_token_scope_grants_nothing_the_role_lacks() -> None:
    viewer = user_with_role("viewer")
    with pytest.raises(InvalidInput):
        do_create_token(viewer, actor=actor(viewer), scopes=["approve"])
    # Minted by an approver, then the role is taken away behind the services' back:
    # the role check still refuses.
    approver = user_with_role("approver")
    token, _ = do_create_token(approver, actor=actor(approver), scopes=["approve"])
    approver.groups.clear()
    revision = submitted_revision()
    with pytest.raises(PermissionRefused):
        do_approve_revision(revision, actor=Actor.for_token(token), digest=revision.digest)


def test_a_token_cannot_make_more_tokens() -> None:
    admin = user_with_role("admin")
    token, _ = do_create_token(admin, actor=actor(admin), scopes=["read", "write", "operate", "approve"])
    with pytest.raises(PermissionRefused):
        do_create_token(admin, actor=Actor.for_token(token), scopes=["read"])
