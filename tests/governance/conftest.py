from __future__ import annotations

import pytest

from models_admin.models import AuditEntry


@pytest.fixture
def audit_actions() -> object:
    """``audit_actions()``: the audit log's actions, oldest first."""

    def actions() -> list[str]:
        return list(AuditEntry.objects.order_by("id").values_list("action", flat=True))

    return actions
