"""Races: two approvers deciding one revision, two editors creating one asset: exactly one wins,
the other gets a 409."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from actions.revisions import do_approve_revision, do_create_draft, do_reject_revision
from models_admin.governance import AssetExists, InvalidTransition
from models_admin.models import Asset, AuditEntry, RevisionStatus
from tests.governance.factories import actor, asset_document, submitted_revision, user_with_role


@pytest.mark.django_db(transaction=True)
def test_concurrent_decisions_on_one_revision_let_exactly_one_win() -> None:
    revision = submitted_revision()
    first, second = user_with_role("approver"), user_with_role("approver")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def decide(fn: Any, **kwargs: Any) -> None:
        try:
            barrier.wait()
            fn(revision, **kwargs)
            outcomes.append("won")
        except InvalidTransition:
            outcomes.append("409")
        finally:
            connection.close()

    threads = [
        threading.Thread(
            target=decide,
            args=(do_approve_revision,),
            kwargs={"actor": actor(first), "digest": revision.digest},
        ),
        threading.Thread(
            target=decide, args=(do_reject_revision,), kwargs={"actor": actor(second), "comment": "no"}
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["409", "won"]
    revision.refresh_from_db()
    assert revision.status in (RevisionStatus.APPROVED, RevisionStatus.REJECTED)
    decisions = AuditEntry.objects.filter(action__in=["revision.approve", "revision.reject"])
    assert decisions.count() == 1
    live = revision.asset.__class__.objects.get(pk=revision.asset_id).live_spec
    assert (live is not None) == (revision.status == RevisionStatus.APPROVED)


@pytest.mark.django_db(transaction=True)
def test_two_creates_of_one_asset_id_make_one_asset_and_one_refusal() -> None:
    """The rule lives in the action: a create racing another is AssetExists, never an edit or a 500."""
    editors = [user_with_role("editor"), user_with_role("editor")]
    doc = asset_document("raced-asset")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def create(editor: Any) -> None:
        try:
            barrier.wait()
            do_create_draft(doc, actor=actor(editor), new=True)
            outcomes.append("created")
        except AssetExists:
            outcomes.append("exists")
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(editor,)) for editor in editors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["created", "exists"]
    asset = Asset.objects.get(asset_id="raced-asset")
    assert asset.revisions.count() == 1
    assert AuditEntry.objects.filter(action="asset.create", object_id="raced-asset").count() == 1


@pytest.mark.django_db
def test_creating_an_existing_asset_is_refused_and_editing_it_is_not() -> None:
    editor = user_with_role("editor")
    doc = asset_document("taken-asset")
    do_create_draft(doc, actor=actor(editor), new=True)

    with pytest.raises(AssetExists, match="taken-asset"):
        do_create_draft({**doc, "version": "2.0.0"}, actor=actor(editor), new=True)
    revision, changed = do_create_draft({**doc, "version": "2.0.0"}, actor=actor(editor))
    assert changed
    assert revision.document["version"] == "2.0.0"
