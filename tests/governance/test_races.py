"""Two approvers deciding the same revision at once: exactly one wins, the other gets a 409."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from actions.revisions import do_approve_revision, do_reject_revision
from models_admin.governance import InvalidTransition
from models_admin.models import AuditEntry, RevisionStatus
from tests.governance.factories import actor, submitted_revision, user_with_role


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
