"""The authorization matrix as data: (operation, role) → allowed.

Each :class:`Operation` names the roles allowed and a ``run(user)`` that performs it as
``user`` (setting up what it needs with other users). The service rows live here; the API
and UI tests add their own lists of operations (``run`` returning an HTTP status, say) and
reuse :data:`ROLES_UNDER_TEST` and :func:`cases`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from actions.assets import do_import_assets, do_retire_asset
from actions.revisions import (
    do_approve_revision,
    do_create_draft,
    do_reject_revision,
    do_submit_revision,
    do_withdraw_revision,
)
from actions.tokens import do_create_token, do_revoke_token
from actions.users import do_create_user, do_reset_password, do_set_role, do_set_user_active
from models_admin.yaml_io import SourceDocument
from tests.governance.factories import (
    ROLES_UNDER_TEST,
    actor,
    asset_document,
    draft_revision,
    live_asset,
    submitted_revision,
    user_with_role,
)

# Who may do what, written by hand (never read from models_admin.roles): each role includes
# the ones before it, viewer < operator < editor < approver < admin.
VIEWERS = frozenset({"viewer", "operator", "editor", "approver", "admin"})
OPERATORS = frozenset({"operator", "editor", "approver", "admin"})
EDITORS = frozenset({"editor", "approver", "admin"})
APPROVERS = frozenset({"approver", "admin"})
ADMINS = frozenset({"admin"})
SIGNED_IN = VIEWERS
MAY = {"view": VIEWERS, "operate": OPERATORS, "edit": EDITORS, "approve": APPROVERS, "admin": ADMINS}
"""The roles allowed each action."""
SCOPE_OF = {"view": "read", "operate": "operate", "edit": "write", "approve": "approve"}
"""The token scope each action needs (admin work is never done through a token)."""


@dataclass(frozen=True)
class Operation:
    name: str
    allowed: frozenset[str]
    run: Callable[[Any], Any]


def cases(operations: Iterable[Operation]) -> list[tuple[Operation, str, bool]]:
    """``(operation, role, allowed)`` for every operation and role: feed to ``pytest.mark.parametrize``."""
    return [(op, role, role in op.allowed) for op in operations for role in ROLES_UNDER_TEST]


def _import(user: Any, approved: bool = False) -> Any:
    doc = SourceDocument(source="matrix.yaml", index=1, data=asset_document())
    return do_import_assets([doc], actor=actor(user, "api"), approved=approved)


def _approve(revision: Any, user: Any) -> Any:
    return do_approve_revision(revision, actor=actor(user), digest=revision.digest)


def _own_token(user: Any) -> Any:
    owner = user if getattr(user, "pk", None) else user_with_role("viewer")
    token, _ = do_create_token(owner, actor=actor(owner), scopes=["read"])
    return token


SERVICE_OPERATIONS = [
    Operation("create a draft", EDITORS, lambda u: do_create_draft(asset_document(), actor=actor(u))),
    Operation(
        "edit a live asset",
        EDITORS,
        lambda u: do_create_draft(asset_document(live_asset().asset_id, version="2"), actor=actor(u)),
    ),
    Operation("submit a draft", EDITORS, lambda u: do_submit_revision(draft_revision(), actor=actor(u))),
    Operation(
        "withdraw a submission", EDITORS, lambda u: do_withdraw_revision(submitted_revision(), actor=actor(u))
    ),
    Operation("approve someone else's revision", APPROVERS, lambda u: _approve(submitted_revision(), u)),
    Operation(
        "reject someone else's revision",
        APPROVERS,
        lambda u: do_reject_revision(submitted_revision(), actor=actor(u), comment="no"),
    ),
    Operation("retire an asset", APPROVERS, lambda u: do_retire_asset(live_asset(), actor=actor(u))),
    Operation("import assets for review", EDITORS, _import),
    Operation("import assets approved", ADMINS, lambda u: _import(u, approved=True)),
    Operation(
        "create an own token",
        SIGNED_IN,
        lambda u: (
            do_create_token(u, actor=actor(u), scopes=["read"]) if u.is_authenticated else _refuse_anon(u)
        ),
    ),
    Operation(
        "create a token for someone else",
        ADMINS,
        lambda u: do_create_token(user_with_role("viewer"), actor=actor(u), scopes=["read"]),
    ),
    Operation(
        "revoke an own token",
        SIGNED_IN,
        lambda u: do_revoke_token(_own_token(u), actor=actor(u)),
    ),
    Operation(
        "revoke someone else's token",
        ADMINS,
        lambda u: do_revoke_token(_own_token(user_with_role("viewer")), actor=actor(u)),
    ),
    Operation("change a role", ADMINS, lambda u: do_set_role(user_with_role(), "editor", actor=actor(u))),
    Operation("create a user", ADMINS, lambda u: do_create_user("matrix-new", role="viewer", actor=actor(u))),
    Operation(
        "disable a user", ADMINS, lambda u: do_set_user_active(user_with_role(), False, actor=actor(u))
    ),
    Operation(
        "enable a user",
        ADMINS,
        lambda u: do_set_user_active(user_with_role(is_active=False), True, actor=actor(u)),
    ),
    Operation("reset a password", ADMINS, lambda u: do_reset_password(user_with_role(), actor=actor(u))),
]


def _refuse_anon(user: Any) -> Any:
    # An anonymous user has no tokens of their own: asking for one is asking for someone's.
    return do_create_token(user_with_role("viewer"), actor=actor(user), scopes=["read"])
