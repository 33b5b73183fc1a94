"""What the users page shows: every account with its role, read in two queries."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.db.models import Prefetch

from models_admin.roles import ROLES, highest_role


@dataclass(frozen=True)
class UserRow:
    user: User
    role: str | None
    superuser: bool


def user_rows() -> list[UserRow]:
    """Every account with its highest role, by name (two queries, whatever the count)."""
    users = (
        get_user_model()
        .objects.order_by("username")
        .prefetch_related(Prefetch("groups", queryset=Group.objects.filter(name__in=ROLES)))
    )
    rows = []
    for user in users:
        role = highest_role({g.name for g in user.groups.all()}, superuser=user.is_superuser)
        rows.append(UserRow(user=user, role=role, superuser=user.is_superuser))
    return rows
