"""Writing audit rows: called by services, inside their transaction, never from signals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from hub.context import current_request_id
from models_admin.models import AuditEntry, AuditSource


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (maybe through an API token) or the system itself."""

    user: AbstractBaseUser | None
    source: str  # an AuditSource value
    token_label: str | None = None  # e.g. "token hub_ab12…" when acting through an API token

    @classmethod
    def system(cls) -> Actor:
        return cls(user=None, source=AuditSource.SYSTEM)

    @classmethod
    def cli(cls, user: AbstractBaseUser | None = None) -> Actor:
        return cls(user=user, source=AuditSource.CLI)

    @property
    def label(self) -> str:
        name = self.user.get_username() if self.user is not None else "system"
        return f"{name} via {self.token_label}" if self.token_label else name


def actor_for(user: AbstractBaseUser | AnonymousUser | None, source: str) -> Actor:
    real = user if isinstance(user, AbstractBaseUser) else None
    return Actor(user=real, source=source)


def record(
    action: str,
    *,
    actor: Actor,
    object_type: str,
    object_id: str,
    before: Any = None,
    after: Any = None,
    detail: str = "",
) -> AuditEntry:
    """Write one audit row for ``action`` on ``object_type:object_id``."""
    return AuditEntry.objects.create(
        actor_user=actor.user,
        actor_label=actor.label,
        source=actor.source,
        request_id=current_request_id() or "",
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
        detail=detail,
    )
