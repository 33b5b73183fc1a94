"""Who may do what, at the service layer: every operation by every role.

The API and UI tests add their own operation lists (see ``tests/governance/matrix.py``).
"""

from __future__ import annotations

import pytest

from models_admin.governance import PermissionRefused
from models_admin.models import AuditEntry
from models_admin.roles import ACTIONS, has_permission
from tests.governance.factories import ROLES_UNDER_TEST, user_for, user_with_role
from tests.governance.matrix import MAY, SERVICE_OPERATIONS, Operation, cases

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("operation", "role", "allowed"), cases(SERVICE_OPERATIONS), ids=lambda v: getattr(v, "name", str(v))
)
def test_the_services_allow_exactly_the_roles_in_the_matrix(
    operation: Operation, role: str, allowed: bool
) -> None:
    user = user_for(role)
    refusals = AuditEntry.objects.filter(action="authz.refused").count()
    if allowed:
        operation.run(user)
        assert AuditEntry.objects.filter(action="authz.refused").count() == refusals
    else:
        with pytest.raises(PermissionRefused):
            operation.run(user)
        assert AuditEntry.objects.filter(action="authz.refused").count() == refusals + 1


@pytest.mark.parametrize("role", ROLES_UNDER_TEST)
@pytest.mark.parametrize("action", ACTIONS)
def test_roles_are_cumulative(role: str, action: str) -> None:
    expected = role in MAY[action]
    assert has_permission(user_for(role), action) is expected


@pytest.mark.parametrize("action", ACTIONS)
def test_superusers_are_admins_and_disabled_users_are_nobody(action: str) -> None:
    root = user_with_role(None, is_superuser=True)
    assert has_permission(root, action)
    disabled = user_with_role("admin", is_active=False)
    assert not has_permission(disabled, action)


def test_an_unknown_action_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown action"):
        has_permission(user_with_role("admin"), "delete")
