"""Approving in the Hub-UI approves the content the page showed: the approvals page shows each
revision's digest and its approve form posts it; a form naming other content is refused with
a message (and audited), and nothing goes live.

Django's test client with CSRF enforced, posting exactly the form the page rendered.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from actions.revisions import do_create_draft, do_submit_revision, do_withdraw_revision
from models_admin.models import Asset, AssetRevision, AuditEntry, RevisionStatus
from tests.governance.factories import actor, asset_document, submitted_revision, user_with_role

pytestmark = pytest.mark.django_db

CSRF_SECRET = "approvalDigestCsrf0123456789abcd"  # 32 alphanumerics: a valid unmasked CSRF secret


def browser(user: Any) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = CSRF_SECRET
    client.force_login(user)
    return client


def approve_form(page: str, revision: AssetRevision) -> dict[str, str]:
    """The fields of ``revision``'s approve form as rendered on ``page``."""
    action = f'action="/approvals/{revision.pk}/approve/"'
    assert action in page, f"no approve form for revision {revision.pk}"
    form = page.split(action, 1)[1].split("</form>", 1)[0]
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))
    fields["csrfmiddlewaretoken"] = CSRF_SECRET
    return fields


def messages_of(response: Any) -> str:
    return " ".join(str(m) for m in response.context["messages"])


def test_the_approvals_page_shows_the_digest_and_its_form_approves_that_content() -> None:
    revision = submitted_revision()
    approver = browser(user_with_role("approver"))
    page = approver.get("/approvals/").content.decode()
    assert revision.short_digest in page
    form = approve_form(page, revision)
    assert form["digest"] == revision.digest
    response = approver.post(f"/approvals/{revision.pk}/approve/", form, follow=True)
    assert "it is live" in messages_of(response)
    revision.refresh_from_db()
    assert revision.status == RevisionStatus.APPROVED
    assert Asset.objects.get(pk=revision.asset_id).live_spec == revision.document


def test_the_asset_page_shows_the_pending_revision_digest() -> None:
    revision = submitted_revision()
    page = browser(user_with_role("viewer")).get(f"/models/{revision.asset.asset_id}/").content.decode()
    assert f'title="{revision.digest}">{revision.short_digest}</code>' in page


def test_a_form_shown_before_a_withdraw_and_edit_approves_nothing() -> None:
    editor = user_with_role("editor")
    reviewed = submitted_revision(author=editor)
    approver = browser(user_with_role("approver"))
    form = approve_form(approver.get("/approvals/").content.decode(), reviewed)

    # Meanwhile the editor withdraws, edits and resubmits (a new revision).
    do_withdraw_revision(reviewed, actor=actor(editor))
    doc = asset_document(reviewed.asset.asset_id, metadata={"context_length": 8192})
    swapped, _ = do_create_draft(doc, actor=actor(editor))
    swapped = do_submit_revision(swapped, actor=actor(editor))
    assert swapped.pk != reviewed.pk

    # The page's old form: its revision is withdrawn, so it cannot be approved.
    response = approver.post(f"/approvals/{reviewed.pk}/approve/", form, follow=True)
    assert "withdrawn; cannot approve" in messages_of(response)
    # The same digest posted for the new revision: refused, audited, not live.
    response = approver.post(f"/approvals/{swapped.pk}/approve/", form, follow=True)
    assert response.status_code == 200
    assert "content changed since review" in messages_of(response)
    assert "content changed since review" in response.content.decode()  # shown on the page
    refusal = AuditEntry.objects.get(action="revision.approve_refused")
    assert reviewed.digest in refusal.detail
    assert swapped.digest in refusal.detail
    swapped.refresh_from_db()
    assert swapped.status == RevisionStatus.SUBMITTED
    assert Asset.objects.get(pk=swapped.asset_id).live_spec is None


def test_an_approve_form_without_a_digest_is_refused() -> None:
    revision = submitted_revision()
    approver = browser(user_with_role("approver"))
    response = approver.post(
        f"/approvals/{revision.pk}/approve/", {"csrfmiddlewaretoken": CSRF_SECRET}, follow=True
    )
    assert "content changed since review" in messages_of(response)
    revision.refresh_from_db()
    assert revision.status == RevisionStatus.SUBMITTED
    assert AuditEntry.objects.filter(action="revision.approve_refused").count() == 1


def test_a_malformed_digest_is_refused_without_being_echoed() -> None:
    revision = submitted_revision()
    approver = browser(user_with_role("approver"))
    junk = "<script>\x00" + "x" * 5000
    data = {"csrfmiddlewaretoken": CSRF_SECRET, "digest": junk}
    response = approver.post(f"/approvals/{revision.pk}/approve/", data, follow=True)
    assert "content changed since review" in messages_of(response)
    refusal = AuditEntry.objects.get(action="revision.approve_refused")
    assert "(malformed)" in refusal.detail
    assert "<script>" not in refusal.detail
