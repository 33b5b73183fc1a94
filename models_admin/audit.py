"""Writing audit rows: called by services, inside their transaction, never from signals.

The table is append-only: a PostgreSQL trigger refuses UPDATE and DELETE of its rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User

from core.context import current_request_id
from models_admin.models import AuditEntry, AuditSource

if TYPE_CHECKING:
    from models_admin.models import ApiToken


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (maybe through an API token) or the system itself.

    An actor without a user is trusted only as the system or the command line (whoever runs
    ``manage.py`` already holds the database); on the UI or API it is anonymous.
    """

    user: AbstractBaseUser | None
    source: str  # an AuditSource value
    token_label: str | None = None  # e.g. "token hub_ab12…" when acting through an API token
    token: ApiToken | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls(user=None, source=AuditSource.SYSTEM)

    @classmethod
    def cli(cls, user: AbstractBaseUser | None = None) -> Actor:
        return cls(user=user, source=AuditSource.CLI)

    @classmethod
    def for_token(cls, token: ApiToken, source: str = AuditSource.API) -> Actor:
        """The token's user, acting through ``token`` (its scopes then limit what it may do)."""
        return cls(user=token.user, source=source, token_label=f"token {token.label}", token=token)

    @property
    def label(self) -> str:
        if self.user is not None:
            name = self.user.get_username()
        else:
            name = "system" if self.is_trusted_system else "anonymous"
        return f"{name} via {self.token_label}" if self.token_label else name

    @property
    def db_user(self) -> User | None:
        """``user`` typed as the project's user model, for foreign keys."""
        return cast("User | None", self.user)

    @property
    def user_id(self) -> int | None:
        return int(self.user.pk) if self.user is not None else None

    @property
    def is_trusted_system(self) -> bool:
        """No user, run by the hub itself or from ``manage.py``."""
        return self.user is None and self.source in (AuditSource.SYSTEM, AuditSource.CLI)


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
        actor_user=actor.db_user,
        actor_label=actor.label[:200],
        actor_token=actor.token,
        source=actor.source,
        request_id=current_request_id() or "",
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
        detail=detail,
    )
