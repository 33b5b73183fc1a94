"""Four eyes, end to end on every path: the Hub-UI's views (Django's test client, CSRF
enforced), the API through the browser session (CSRF header) and the API through a Bearer
token made by ``do_create_token``.

Whoever submitted or wrote a revision cannot approve it, by any path, and the refusal is
audited; a second approver's approval makes it live.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from actions.tokens import do_create_token
from models_admin import governance
from models_admin.audit import Actor
from models_admin.models import Asset, AssetRevision, AuditEntry, RevisionStatus
from tests.governance.factories import asset_document, user_with_role

pytestmark = pytest.mark.django_db

PATHS = ("ui", "api-session", "api-token")
CSRF_SECRET = "fourEyesCsrfSecret0123456789abcd"  # 32 alphanumerics: a valid unmasked CSRF secret


def client_on(path: str, user: Any, scopes: tuple[str, ...] = ("read", "write", "approve")) -> Client:
    """A client for ``user`` on ``path``: a CSRF-checking browser session, or a Bearer token."""
    if path == "api-token":
        _, secret = do_create_token(user, actor=Actor(user=user, source="cli"), scopes=list(scopes))
        return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    client = Client(enforce_csrf_checks=True, HTTP_X_CSRFTOKEN=CSRF_SECRET)
    client.cookies["csrftoken"] = CSRF_SECRET
    client.force_login(user)
    return client


def api_post(client: Client, url: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def write_and_submit(path: str, user: Any) -> AssetRevision:
    """``user`` creates a new asset and submits its revision 1 for approval, through ``path``."""
    client = client_on(path, user)
    doc = asset_document()
    if path == "ui":
        form = {
            "asset_id": doc["asset_id"],
            "display_name": "Four eyes",
            "version": "1.0.0",
            "document": "interface: llm-runtime\nmetadata: {context_length: 4096}\n",
            "submit": "1",
            "csrfmiddlewaretoken": CSRF_SECRET,
        }
        response = client.post("/models/new/", form)
        assert response.status_code == 302, response.content.decode()[:500]
        revision = governance.open_revision(Asset.objects.get(asset_id=doc["asset_id"]))
        assert revision is not None
    else:
        created = api_post(client, "/api/v1/assets", {"document": doc})
        assert created.status_code == 201, created.content.decode()
        submitted = api_post(client, f"/api/v1/revisions/{created.json()['id']}/submit")
        assert submitted.status_code == 200, submitted.content.decode()
        revision = AssetRevision.objects.get(pk=created.json()["id"])
    revision.refresh_from_db()
    assert revision.status == RevisionStatus.SUBMITTED
    assert revision.submitted_by_id == user.pk
    return revision


def approve(path: str, user: Any, revision: AssetRevision) -> str | None:
    """``user`` approves ``revision`` (naming its digest, as reviewed) through ``path``: None when
    approved, else the refusal shown."""
    client = client_on(path, user)
    if path == "ui":
        response = client.post(
            f"/approvals/{revision.pk}/approve/",
            {"csrfmiddlewaretoken": CSRF_SECRET, "digest": revision.digest},
            follow=True,
        )
        assert response.redirect_chain == [("/approvals/", 302)]
        page = response.content.decode()
        if "it is live" in page:
            return None
        assert "another approver must decide" in page, page
        return page
    response = api_post(client, f"/api/v1/revisions/{revision.pk}/approve", {"digest": revision.digest})
    if response.status_code == 200:
        assert response.json()["status"] == "approved"
        return None
    assert response.status_code == 403, response.content.decode()
    error = response.json()["error"]
    assert error["code"] == "four_eyes"
    return str(error["message"])


def assert_refused(revision: AssetRevision, user: Any, refusals_before: int, *, token: bool) -> None:
    revision.refresh_from_db()
    assert revision.status == RevisionStatus.SUBMITTED
    assert revision.decided_by_id is None
    assert Asset.objects.get(pk=revision.asset_id).live_spec is None
    refusals = AuditEntry.objects.filter(action="authz.refused", actor_user=user)
    assert refusals.count() == refusals_before + 1
    refusal = refusals.latest("id")
    assert refusal.detail.startswith("approve: ")
    assert (refusal.actor_token_id is not None) is token


def assert_live(revision: AssetRevision, approver: Any) -> None:
    revision.refresh_from_db()
    assert revision.status == RevisionStatus.APPROVED
    assert revision.decided_by_id == approver.pk
    assert Asset.objects.get(pk=revision.asset_id).live_spec == revision.document


def refusals_of(user: Any) -> int:
    return AuditEntry.objects.filter(action="authz.refused", actor_user=user).count()


@pytest.mark.parametrize("path", PATHS)
def test_it_refuses_self_approval_and_a_second_approver_succeeds(path: str) -> None:
    alice, bob = user_with_role("approver"), user_with_role("approver")
    revision = write_and_submit(path, alice)
    before = refusals_of(alice)
    assert approve(path, alice, revision) is not None
    assert_refused(revision, alice, before, token=path == "api-token")
    assert approve(path, bob, revision) is None
    assert_live(revision, bob)


@pytest.mark.parametrize("path", PATHS)
def test_the_submitter_is_refused_on_every_path_whichever_path_submitted(path: str) -> None:
    """Submitting in the UI and approving with one's own token (or session) is still self-approval."""
    alice, bob = user_with_role("approver"), user_with_role("approver")
    revision = write_and_submit("ui" if path != "ui" else "api-token", alice)
    before = refusals_of(alice)
    assert approve(path, alice, revision) is not None
    assert_refused(revision, alice, before, token=path == "api-token")
    assert approve("api-token", bob, revision) is None
    assert_live(revision, bob)


@pytest.mark.parametrize("path", PATHS)
def test_an_author_is_refused_though_someone_else_submitted(path: str) -> None:
    alice, carol, bob = user_with_role("approver"), user_with_role("editor"), user_with_role("approver")
    created = api_post(client_on("api-token", alice), "/api/v1/assets", {"document": asset_document()})
    assert created.status_code == 201
    carols = client_on("api-token", carol, ("read", "write"))  # an editor may not hold approve
    submitted = api_post(carols, f"/api/v1/revisions/{created.json()['id']}/submit")
    assert submitted.status_code == 200
    revision = AssetRevision.objects.get(pk=created.json()["id"])
    assert revision.author_id == alice.pk
    assert revision.submitted_by_id == carol.pk
    before = refusals_of(alice)
    refusal = approve(path, alice, revision)
    assert refusal is not None
    assert "you wrote this revision" in refusal
    assert_refused(revision, alice, before, token=path == "api-token")
    assert approve(path, bob, revision) is None
    assert_live(revision, bob)


def test_the_explicit_setting_lets_a_single_admin_approve_their_own_and_it_is_audited(
    settings: Any,
) -> None:
    settings.HUB_ALLOW_SELF_APPROVAL = True
    admin = user_with_role("admin")
    revision = write_and_submit("api-token", admin)
    assert approve("api-token", admin, revision) is None
    assert_live(revision, admin)
    entry = AuditEntry.objects.filter(action="revision.approve").latest("id")
    assert entry.actor_user_id == admin.pk
    assert "HUB_ALLOW_SELF_APPROVAL" in entry.detail
