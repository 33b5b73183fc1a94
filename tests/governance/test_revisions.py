"""Revisions: draft → submitted → approved | rejected | withdrawn, four eyes, and what is live."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from actions.assets import do_retire_asset, do_save_asset
from actions.revisions import (
    do_approve_revision,
    do_create_draft,
    do_reject_revision,
    do_submit_revision,
    do_withdraw_revision,
)
from models_admin.audit import Actor
from models_admin.governance import (
    FourEyesViolation,
    InvalidInput,
    InvalidTransition,
    PermissionRefused,
    can_decide,
    live_revision,
    open_revision,
)
from models_admin.models import Asset, AssetRevision, AuditEntry, RevisionStatus
from tests.governance.factories import (
    actor,
    asset_document,
    draft_revision,
    live_asset,
    submitted_revision,
    user_with_role,
)

pytestmark = pytest.mark.django_db


def test_it_creates_a_new_asset_as_a_draft_that_is_not_live() -> None:
    editor = user_with_role("editor")
    revision = draft_revision(editor)
    asset = revision.asset
    assert revision.number == 1
    assert revision.status == RevisionStatus.DRAFT
    assert revision.author == editor
    assert asset.live_spec is None
    assert asset.spec == revision.document
    assert not asset.is_routable


def test_it_refuses_self_approval_and_a_second_approver_succeeds() -> None:
    approver = user_with_role("approver")
    revision = submitted_revision(author=approver)
    with pytest.raises(FourEyesViolation, match="you submitted this revision"):
        do_approve_revision(revision, actor=actor(approver), digest=revision.digest)
    revision.refresh_from_db()
    assert revision.status == RevisionStatus.SUBMITTED
    assert revision.asset.live_spec is None
    assert AuditEntry.objects.filter(action="authz.refused", actor_user=approver).exists()

    second = user_with_role("approver")
    approved = do_approve_revision(revision, actor=actor(second), digest=revision.digest)
    assert approved.status == RevisionStatus.APPROVED
    assert approved.decided_by == second
    assert Asset.objects.get(pk=revision.asset_id).live_spec == revision.document


def test_it_refuses_approval_by_the_author_even_when_someone_else_submitted() -> None:
    author = user_with_role("approver")
    revision = submitted_revision(author=author, submitter=user_with_role("editor"))
    with pytest.raises(FourEyesViolation, match="you wrote this revision"):
        do_approve_revision(revision, actor=actor(author), digest=revision.digest)


def test_it_refuses_approval_by_anyone_who_edited_the_draft() -> None:
    author = user_with_role("editor")
    coeditor = user_with_role("approver")
    revision = draft_revision(author)
    do_create_draft(asset_document(revision.asset.asset_id, version="1.0.1"), actor=actor(coeditor))
    revision = do_submit_revision(revision, actor=actor(author))
    with pytest.raises(FourEyesViolation):
        do_approve_revision(revision, actor=actor(coeditor), digest=revision.digest)


def test_self_approval_is_allowed_only_with_the_explicit_setting(settings: Any) -> None:
    settings.HUB_ALLOW_SELF_APPROVAL = True
    admin = user_with_role("admin")
    revision = submitted_revision(author=admin)
    assert can_decide(revision, admin)
    do_approve_revision(revision, actor=actor(admin), digest=revision.digest)
    entry = AuditEntry.objects.get(action="revision.approve")
    assert "HUB_ALLOW_SELF_APPROVAL" in entry.detail


def test_can_decide_tells_the_ui_whether_to_offer_approval() -> None:
    author = user_with_role("approver")
    revision = submitted_revision(author=author)
    assert not can_decide(revision, author)
    assert can_decide(revision, user_with_role("approver"))
    assert not can_decide(revision, user_with_role("editor"))


def test_editing_a_live_asset_leaves_the_live_revision_serving_until_approval() -> None:
    asset = live_asset()
    live_doc = asset.live_spec
    editor = user_with_role("editor")
    changed = asset_document(asset.asset_id, version="2.0.0", display_name="Next")
    new, was_changed = do_create_draft(changed, actor=actor(editor))
    asset.refresh_from_db()
    assert was_changed
    assert new.number == 2
    assert new.status == RevisionStatus.DRAFT
    assert asset.live_spec == live_doc
    assert asset.spec["version"] == "2.0.0"  # editors see the newest
    assert asset.display_name == "Next"
    assert live_revision(asset).number == 1  # type: ignore[union-attr]

    do_submit_revision(new, actor=actor(editor))
    asset.refresh_from_db()
    assert asset.live_spec == live_doc
    do_approve_revision(new, actor=actor(user_with_role("approver")), digest=new.digest)
    asset.refresh_from_db()
    assert (asset.live_spec or {}).get("version") == "2.0.0"
    assert live_revision(asset).number == 2  # type: ignore[union-attr]


def test_do_save_asset_makes_a_draft_and_is_a_no_op_when_nothing_changes() -> None:
    asset = live_asset()
    editor_actor = actor(user_with_role("editor"))
    same, changed = do_save_asset(asset.live_spec, actor=editor_actor)  # type: ignore[arg-type]
    assert not changed
    assert same.revisions.count() == 1
    saved, changed = do_save_asset(asset_document(asset.asset_id, version="3"), actor=editor_actor)
    assert changed
    assert saved.live_spec == asset.live_spec
    assert open_revision(saved).status == RevisionStatus.DRAFT  # type: ignore[union-attr]


def test_a_second_edit_updates_the_open_draft_in_place() -> None:
    revision = draft_revision()
    asset_id = revision.asset.asset_id
    editor = actor(user_with_role("editor"))
    again, changed = do_create_draft(asset_document(asset_id, version="9"), actor=editor)
    assert changed
    assert again.pk == revision.pk
    assert AssetRevision.objects.filter(asset__asset_id=asset_id).count() == 1


def test_editing_a_submitted_revision_is_refused_and_after_withdrawal_makes_a_new_revision() -> None:
    editor, coeditor = user_with_role("editor"), user_with_role("approver")
    revision = submitted_revision(author=editor)
    submitted_doc = revision.document
    doc = asset_document(revision.asset.asset_id, version="1.1")
    with pytest.raises(InvalidTransition, match="withdraw it before editing"):
        do_create_draft(doc, actor=actor(editor))
    withdrawn = do_withdraw_revision(revision, actor=actor(editor))
    assert withdrawn.status == RevisionStatus.WITHDRAWN
    assert withdrawn.submitted_by == editor  # history: who had submitted it
    with pytest.raises(InvalidTransition):
        do_submit_revision(withdrawn, actor=actor(editor))  # final: never back into the queue
    edited, changed = do_create_draft(doc, actor=actor(coeditor))
    assert changed
    assert edited.pk != revision.pk
    assert edited.number == 2
    assert edited.status == RevisionStatus.DRAFT
    withdrawn.refresh_from_db()
    assert withdrawn.document == submitted_doc
    assert withdrawn.status == RevisionStatus.WITHDRAWN
    # The withdrawn revision's writer wrote the new one too: four eyes keeps both out.
    assert set(edited.contributors) == {editor.pk, coeditor.pk}


def test_rejecting_needs_a_comment_and_is_final() -> None:
    revision = submitted_revision()
    approver = actor(user_with_role("approver"))
    with pytest.raises(InvalidInput) as excinfo:
        do_reject_revision(revision, actor=approver, comment="  ")
    assert [str(e) for e in excinfo.value.errors] == ["comment: required to reject"]
    rejected = do_reject_revision(revision, actor=approver, comment="needs a bigger context")
    assert rejected.status == RevisionStatus.REJECTED
    assert rejected.comment == "needs a bigger context"
    assert rejected.asset.live_spec is None
    attempts: list[Callable[[], object]] = [
        lambda: do_approve_revision(rejected, actor=approver, digest=rejected.digest),
        lambda: do_withdraw_revision(rejected, actor=approver),
        lambda: do_submit_revision(rejected, actor=approver),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidTransition):
            attempt()


def test_after_a_rejection_the_next_edit_is_a_new_revision() -> None:
    revision = submitted_revision()
    do_reject_revision(revision, actor=actor(user_with_role("approver")), comment="no")
    new, _ = do_create_draft(
        asset_document(revision.asset.asset_id, version="2"), actor=actor(user_with_role("editor"))
    )
    assert new.number == 2


def test_an_approved_revision_cannot_change_through_the_services() -> None:
    asset = live_asset()
    approved = asset.revisions.get()
    approver = actor(user_with_role("approver"))
    with pytest.raises(InvalidTransition):
        do_approve_revision(approved, actor=approver, digest=approved.digest)
    with pytest.raises(InvalidTransition):
        do_reject_revision(approved, actor=approver, comment="too late")
    with pytest.raises(InvalidTransition):
        do_withdraw_revision(approved, actor=approver)
    approved.refresh_from_db()
    assert approved.status == RevisionStatus.APPROVED


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE models_admin_assetrevision SET document = '{}'::jsonb WHERE id = %s",
        "UPDATE models_admin_assetrevision SET status = 'draft' WHERE id = %s",
        "UPDATE models_admin_assetrevision SET comment = 'rewritten' WHERE id = %s",
    ],
)
def test_an_approved_revision_cannot_change_in_the_database(sql: str) -> None:
    approved = live_asset().revisions.get()
    with (
        pytest.raises(DatabaseError, match="final revisions cannot change"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [approved.pk])
    approved.refresh_from_db()
    assert approved.status == RevisionStatus.APPROVED


def test_a_rejected_revision_cannot_change_through_the_orm() -> None:
    revision = submitted_revision()
    rejected = do_reject_revision(revision, actor=actor(user_with_role("approver")), comment="no")
    rejected.document = {"asset_id": "forged"}
    with pytest.raises(DatabaseError), transaction.atomic():
        rejected.save()


def test_a_draft_can_still_change_in_the_database() -> None:
    revision = draft_revision()
    AssetRevision.objects.filter(pk=revision.pk).update(comment="fine")
    revision.refresh_from_db()
    assert revision.comment == "fine"


def test_retiring_clears_the_live_spec_keeps_history_and_blocks_approval() -> None:
    asset = live_asset()
    editor = user_with_role("editor")
    draft, _ = do_create_draft(asset_document(asset.asset_id, version="2"), actor=actor(editor))
    pending = do_submit_revision(draft, actor=actor(editor))
    approver = actor(user_with_role("approver"))
    assert do_retire_asset(asset, actor=approver)
    asset.refresh_from_db()
    assert asset.retired_at is not None
    assert asset.live_spec is None
    assert not asset.is_routable
    assert asset.revisions.count() == 2
    assert live_revision(asset) is None
    with pytest.raises(InvalidTransition, match="retired"):
        do_approve_revision(pending, actor=approver, digest=pending.digest)
    with pytest.raises(InvalidTransition, match="retired"):
        do_create_draft(asset_document(asset.asset_id, version="3"), actor=actor(editor))
    assert not do_retire_asset(asset, actor=approver)  # idempotent
    assert AuditEntry.objects.filter(action="asset.retire").count() == 1


def test_each_step_writes_exactly_one_audit_row(audit_actions: Any) -> None:
    editor, approver = user_with_role("editor"), user_with_role("approver")
    first = draft_revision(editor)
    do_submit_revision(first, actor=actor(editor))
    do_withdraw_revision(first, actor=actor(editor))
    revision, _ = do_create_draft(asset_document(first.asset.asset_id, version="1.1"), actor=actor(editor))
    do_submit_revision(revision, actor=actor(editor))
    do_approve_revision(revision, actor=actor(approver), digest=revision.digest)
    do_retire_asset(revision.asset, actor=actor(approver))
    assert audit_actions() == [
        "asset.create",
        "revision.submit",
        "revision.withdraw",
        "asset.edit",
        "revision.submit",
        "revision.approve",
        "asset.retire",
    ]
    approve = AuditEntry.objects.get(action="revision.approve")
    assert approve.actor_user == approver
    assert approve.source == "ui"
    assert approve.object_id == f"{revision.asset.asset_id}#2"
    assert (approve.after or {}).get("version") == "1.1"
    assert f"content {revision.digest}" in approve.detail


def test_the_system_actor_can_bootstrap_without_a_person() -> None:
    system = Actor.system()
    revision, _ = do_create_draft(asset_document(), actor=system)
    do_submit_revision(revision, actor=system)
    do_approve_revision(revision, actor=system, digest=revision.digest)
    assert Asset.objects.get(pk=revision.asset_id).live_spec == revision.document


def test_retiring_asks_the_lifecycle_to_stop_the_runtime_after_commit(
    django_capture_on_commit_callbacks: Any,
) -> None:
    from unittest import mock

    from hub.celery import app

    asset = live_asset()
    with mock.patch.object(app, "send_task") as enqueue:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            do_retire_asset(asset, actor=actor(user_with_role("approver")))
        enqueue.assert_not_called()  # nothing is sent before the commit
        for callback in callbacks:
            callback()
    enqueue.assert_called_once()
    assert enqueue.call_args.kwargs["args"] == (asset.asset_id,)


def test_an_unauthorized_edit_is_refused_before_its_document_is_validated() -> None:
    with pytest.raises(PermissionRefused):
        do_create_draft({"asset_id": "x", "version": 3}, actor=actor(user_with_role("viewer"), "api"))
