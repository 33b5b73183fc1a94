"""An approval means exactly the content the approver reviewed.

The swap this guards against: an editor withdraws a submitted revision, edits it and
resubmits it under the same id, and the approver's click (which named only the id) approves
the new content. Now a submitted revision's content never changes (editing after a withdrawal
makes a new revision), and an approval names the content digest it approves.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client

from actions import revisions as revision_actions
from actions.revisions import do_approve_revision, do_create_draft, do_withdraw_revision
from actions.tokens import do_create_token
from models_admin.audit import Actor
from models_admin.governance import ContentChanged, InvalidTransition
from models_admin.models import Asset, AssetRevision, AuditEntry, RevisionStatus, document_digest
from tests.governance.factories import actor as svc_actor
from tests.governance.factories import asset_document, submitted_revision, user_with_role

pytestmark = pytest.mark.django_db

REVIEWED_URL = "http://gpu-a.example.internal:8080"
SWAPPED_URL = "http://collector.example.net:8080"


# What each role's token needs here, and no more than the role may hold.
TOKEN_SCOPES = {"viewer": ["read"], "editor": ["read", "write"], "approver": ["read", "approve"]}


def token_client(user: Any) -> Client:
    role = user.groups.get().name
    _, secret = do_create_token(user, actor=Actor(user=user, source="cli"), scopes=TOKEN_SCOPES[role])
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def post(client: Client, url: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def put(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.put(url, json.dumps(body), content_type="application/json")


def llm_document(asset_id: str, base_url: str) -> dict[str, Any]:
    return asset_document(asset_id, runtime={"kind": "llama-cpp", "model": "m", "base_url": base_url})


def test_a_withdrawn_revision_edited_and_resubmitted_is_not_approved_by_the_reviewed_click() -> None:
    editor, approver = token_client(user_with_role("editor")), token_client(user_with_role("approver"))
    asset_id = "swap-target"
    created = post(editor, "/api/v1/assets", {"document": llm_document(asset_id, REVIEWED_URL)})
    assert created.status_code == 201, created.content
    reviewed_id = created.json()["id"]
    assert post(editor, f"/api/v1/revisions/{reviewed_id}/submit").status_code == 200

    # The approver reviews the submitted revision: its content and its digest.
    reviewed = approver.get(f"/api/v1/revisions/{reviewed_id}").json()
    assert reviewed["document"]["runtime"]["base_url"] == REVIEWED_URL

    # The editor withdraws it, edits it and resubmits.
    assert post(editor, f"/api/v1/revisions/{reviewed_id}/withdraw").status_code == 200
    edited = put(editor, f"/api/v1/assets/{asset_id}", {"document": llm_document(asset_id, SWAPPED_URL)})
    assert edited.status_code == 200, edited.content
    swapped_id = edited.json()["id"]
    assert swapped_id != reviewed_id, "editing a withdrawn revision must make a new revision"
    assert post(editor, f"/api/v1/revisions/{swapped_id}/submit").status_code == 200
    assert post(editor, f"/api/v1/revisions/{reviewed_id}/submit").status_code == 409  # withdrawn is final

    # The reviewed revision still holds what was reviewed, and is no longer approvable.
    kept = AssetRevision.objects.get(pk=reviewed_id)
    assert kept.document["runtime"]["base_url"] == REVIEWED_URL
    click = post(approver, f"/api/v1/revisions/{reviewed_id}/approve", {"digest": reviewed["digest"]})
    assert click.status_code == 409, click.content

    # The same click aimed at the new revision names content it does not hold: refused and audited.
    stale = post(approver, f"/api/v1/revisions/{swapped_id}/approve", {"digest": reviewed["digest"]})
    assert stale.status_code == 409, stale.content
    assert stale.json()["error"]["code"] == "content_changed"
    assert "changed since review" in stale.json()["error"]["message"]
    refusal = AuditEntry.objects.get(action="revision.approve_refused")
    assert refusal.object_id == f"{asset_id}#2"
    assert reviewed["digest"] in refusal.detail
    assert Asset.objects.get(asset_id=asset_id).live_spec is None

    # Reviewing the new content and approving what was reviewed works.
    fresh = approver.get(f"/api/v1/revisions/{swapped_id}").json()
    assert fresh["digest"] != reviewed["digest"]
    approved = post(approver, f"/api/v1/revisions/{swapped_id}/approve", {"digest": fresh["digest"]})
    assert approved.status_code == 200, approved.content
    assert Asset.objects.get(asset_id=asset_id).live_spec == fresh["document"]


def test_the_api_approve_body_requires_the_digest() -> None:
    editor = user_with_role("editor")
    approver = token_client(user_with_role("approver"))
    revision = submitted_revision(author=editor)
    missing = post(approver, f"/api/v1/revisions/{revision.pk}/approve", {"comment": "ok"})
    assert missing.status_code == 422, missing.content
    assert missing.json()["error"]["field"] == "digest"
    other = post(approver, f"/api/v1/revisions/{revision.pk}/approve", {"digest": "0" * 64})
    assert other.status_code == 409
    assert other.json()["error"] == {
        "code": "content_changed",
        "message": other.json()["error"]["message"],
        "retryable": False,
        "field": "digest",
    }
    revision.refresh_from_db()
    assert revision.status == RevisionStatus.SUBMITTED


def test_the_digest_is_the_sha256_of_the_canonical_json_of_the_stored_document() -> None:
    revision = submitted_revision()
    canonical = json.dumps(revision.document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert revision.digest == hashlib.sha256(canonical.encode()).hexdigest()
    assert revision.short_digest == revision.digest[:12]
    described = token_client(user_with_role("viewer")).get(f"/api/v1/revisions/{revision.pk}").json()
    assert described["digest"] == revision.digest


def test_a_stale_digest_is_refused_audited_and_changes_nothing() -> None:
    revision = submitted_revision()
    approver = user_with_role("approver")
    stale = document_digest({**revision.document, "version": "0.9"})
    with pytest.raises(ContentChanged, match="content changed since review"):
        do_approve_revision(revision, actor=svc_actor(approver), digest=stale)
    revision.refresh_from_db()
    assert revision.status == RevisionStatus.SUBMITTED
    assert Asset.objects.get(pk=revision.asset_id).live_spec is None
    refusal = AuditEntry.objects.get(action="revision.approve_refused")
    assert refusal.actor_user == approver
    assert stale in refusal.detail
    assert revision.digest in refusal.detail
    assert not AuditEntry.objects.filter(action="revision.approve").exists()


def test_an_edit_racing_a_submission_never_changes_the_submitted_content(monkeypatch: Any) -> None:
    """The edit read the revision while it was a draft; it is submitted before the edit writes."""
    editor = user_with_role("editor")
    stale_draft = AssetRevision.objects.get(pk=submitted_revision(author=editor).pk)
    submitted_doc = stale_draft.document
    stale_draft.status = RevisionStatus.DRAFT  # what the edit saw a moment before the submission
    monkeypatch.setattr(revision_actions, "open_revision", lambda asset: stale_draft)
    doc = asset_document(stale_draft.asset.asset_id, version="6.6.6")
    with pytest.raises(InvalidTransition, match="submitted meanwhile"):
        do_create_draft(doc, actor=svc_actor(editor))
    stale_draft.refresh_from_db()
    assert stale_draft.status == RevisionStatus.SUBMITTED
    assert stale_draft.document == submitted_doc


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE models_admin_assetrevision SET document = '{}'::jsonb WHERE id = %s",
        "UPDATE models_admin_assetrevision SET status = 'draft' WHERE id = %s",
        "UPDATE models_admin_assetrevision SET contributors = '{}' WHERE id = %s",
    ],
)
def test_a_submitted_revision_cannot_change_in_the_database(sql: str) -> None:
    revision = submitted_revision()
    with (
        pytest.raises(DatabaseError, match="submitted: its content cannot change"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [revision.pk])
    revision.refresh_from_db()
    assert revision.status == RevisionStatus.SUBMITTED


def test_a_withdrawn_revision_is_final_in_the_database() -> None:
    editor = user_with_role("editor")
    withdrawn = do_withdraw_revision(submitted_revision(author=editor), actor=svc_actor(editor))
    with (
        pytest.raises(DatabaseError, match="final revisions cannot change"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE models_admin_assetrevision SET status = 'submitted' WHERE id = %s", [withdrawn.pk]
        )
