"""The audit log is append-only in PostgreSQL, and refusals outlive the refused change."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from actions.revisions import do_create_draft
from models_admin.audit import Actor, record
from models_admin.governance import PermissionRefused
from models_admin.models import Asset, AuditEntry
from tests.governance.factories import actor, asset_document, user_with_role


@pytest.mark.django_db
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE models_admin_auditentry SET detail = 'rewritten' WHERE id = %s",
        "UPDATE models_admin_auditentry SET actor_label = 'someone else' WHERE id = %s",
        "DELETE FROM models_admin_auditentry WHERE id = %s",
    ],
)
def test_an_update_or_delete_on_the_audit_table_fails(sql: str) -> None:
    entry = record("test.event", actor=Actor.system(), object_type="test", object_id="1", detail="original")
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [entry.pk])
    entry.refresh_from_db()
    assert entry.detail == "original"


@pytest.mark.django_db
def test_the_orm_cannot_delete_audit_rows_either() -> None:
    record("test.event", actor=Actor.system(), object_type="test", object_id="1")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_refusal_is_recorded_although_the_refused_change_rolls_back() -> None:
    # Real commits here (no test transaction around us): what persists is what a request leaves.
    # The flush after this test TRUNCATEs the audit table, which the trigger allows.
    viewer = user_with_role("viewer")
    with pytest.raises(PermissionRefused):
        do_create_draft(asset_document("refused-asset"), actor=actor(viewer, "api"))
    assert not Asset.objects.filter(asset_id="refused-asset").exists()
    refusal = AuditEntry.objects.get(action="authz.refused")
    assert refusal.actor_user == viewer
    assert refusal.source == "api"
    assert refusal.object_id == "refused-asset"
    assert "may not edit" in refusal.detail


@pytest.mark.django_db(transaction=True)
def test_a_transactional_test_starts_with_an_empty_audit_log() -> None:
    # Proves the flush between transactional tests works despite the append-only trigger.
    assert not AuditEntry.objects.filter(action="authz.refused").exists()
    editor = user_with_role("editor")
    do_create_draft(asset_document(), actor=actor(editor))
    assert AuditEntry.objects.filter(action="asset.create").count() == 1
