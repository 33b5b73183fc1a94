"""Roles: Django groups holding permissions, checked the same way by the UI, the API and commands.

Roles are cumulative, each including the ones before it::

    viewer    view                      (read the catalog, revisions, audit)
    operator  + operate                 (wake / sleep / restart)
    editor    + edit                    (create, edit, submit, withdraw)
    approver  + approve                 (approve / reject, retire)
    admin     + admin                   (users, roles, tokens: everything)

Superusers are admins. Inactive users may do nothing. Through an API token a user may do
only what both their role and the token's scopes allow (``SCOPE_FOR_ACTION``); no token
scope grants ``admin``. Which scopes a role may hold at all is :data:`SCOPES_FOR_ROLE`:
checked when a token is made, and again each time it is used, against the owner's role then.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group, Permission
from django.contrib.contenttypes.models import ContentType

from models_admin.audit import Actor
from models_admin.models import ApiToken, Asset

ACTIONS = ("view", "operate", "edit", "approve", "admin")
ROLES = ("viewer", "operator", "editor", "approver", "admin")

# action -> permission codename on models_admin.Asset (declared in Asset.Meta.permissions).
PERMISSION_FOR_ACTION = {
    "view": "view_asset",
    "operate": "operate_asset",
    "edit": "edit_asset",
    "approve": "approve_asset",
    "admin": "administer_hub",
}
ROLE_ACTIONS: dict[str, tuple[str, ...]] = {role: ACTIONS[: i + 1] for i, role in enumerate(ROLES)}
SCOPE_FOR_ACTION = {"view": "read", "operate": "operate", "edit": "write", "approve": "approve"}

# Which token scopes each role may hold. ``inference`` (call models through the gateway) is
# open to every role; ``gateway`` (resolve, leases, usage reports: what a gateway service
# does on everyone's behalf) only to admins.
SCOPES_FOR_ROLE: dict[str, frozenset[str]] = {
    "viewer": frozenset({"read", "inference"}),
    "operator": frozenset({"read", "inference", "operate"}),
    "editor": frozenset({"read", "inference", "operate", "write"}),
    "approver": frozenset({"read", "inference", "operate", "write", "approve"}),
    "admin": frozenset({"read", "inference", "operate", "write", "approve", "gateway"}),
}


def ensure_role_groups() -> dict[str, Group]:
    """The role groups with exactly their permissions, created if missing; idempotent.

    Migration 0003 creates them; this re-creates them where a test flush (TRUNCATE) removed them.
    """
    content_type = ContentType.objects.get_for_model(Asset)
    perms = {}
    for action, codename in PERMISSION_FOR_ACTION.items():
        perms[action], _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": f"Can {action} (hub role)"}
        )
    groups = {}
    for role in ROLES:
        groups[role], created = Group.objects.get_or_create(name=role)
        if created:
            groups[role].permissions.set([perms[a] for a in ROLE_ACTIONS[role]])
    return groups


def role_group(role: str) -> Group:
    """The Django group of ``role``. Raises :class:`UnknownRole`."""
    if role not in ROLES:
        raise UnknownRole(f"role: must be one of {', '.join(ROLES)}, got {role!r}")
    group = Group.objects.filter(name=role).first()
    return group if group is not None else ensure_role_groups()[role]


class UnknownRole(ValueError):
    """Not one of :data:`ROLES` (message names the field ``role``)."""


def has_permission(
    user: AbstractBaseUser | AnonymousUser | None, action: str, *, token: ApiToken | None = None
) -> bool:
    """May ``user`` do ``action`` (one of :data:`ACTIONS`)? With ``token``, its scopes must allow it too.

    Raises ``ValueError`` for an unknown action (a programming error, not a refusal).
    """
    if action not in PERMISSION_FOR_ACTION:
        raise ValueError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if token is not None:
        scope = SCOPE_FOR_ACTION.get(action)
        if scope is None or not token.has_scope(scope) or token.user_id != user.pk:
            return False
    if getattr(user, "is_superuser", False):
        return True
    return bool(cast(Any, user).has_perm(f"models_admin.{PERMISSION_FOR_ACTION[action]}"))


def actor_may(actor: Actor, action: str) -> bool:
    """:func:`has_permission` for an :class:`Actor`: the system and user-less CLI may do anything."""
    if actor.is_trusted_system:
        return True
    return has_permission(actor.user, action, token=actor.token)


def role_of(user: AbstractBaseUser | AnonymousUser | None) -> str | None:
    """The highest role ``user`` holds ("admin" for superusers), or None."""
    if user is None or not user.is_authenticated:
        return None
    names = set(Group.objects.filter(user=user).values_list("name", flat=True))  # type: ignore[misc]
    return highest_role(names, superuser=bool(getattr(user, "is_superuser", False)))


def highest_role(groups: set[str], *, superuser: bool = False) -> str | None:
    """The highest role among the group names ``groups`` ("admin" for a superuser), or None."""
    if superuser:
        return "admin"
    held = [r for r in ROLES if r in groups]
    return held[-1] if held else None


def scopes_allowed(user: AbstractBaseUser | AnonymousUser | None) -> frozenset[str]:
    """The token scopes ``user`` may hold now: their role's (:data:`SCOPES_FOR_ROLE`); none if inactive."""
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    role = role_of(user)
    return SCOPES_FOR_ROLE[role] if role is not None else frozenset()
