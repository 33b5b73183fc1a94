"""Token actions: make one (the secret is shown once), revoke one. Checking a secret:
``models_admin/tokens.py`` and ``models_admin/credentials.py``."""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.utils import timezone

from models_admin.audit import Actor, record
from models_admin.governance import InvalidInput, governed, refuse_unless
from models_admin.models import TOKEN_SCOPES, ApiToken
from models_admin.roles import role_of, scopes_allowed
from models_admin.tokens import hash_secret
from models_admin.validation import FieldError


def _networks(raw: Iterable[str]) -> list[str]:
    out = []
    for i, value in enumerate(raw):
        try:
            out.append(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError:
            raise InvalidInput(
                [FieldError(f"allowed_networks[{i}]", f"not a network (CIDR, e.g. 10.0.0.0/8): {value!r}")]
            ) from None
    return out


def _scopes(raw: Iterable[str]) -> list[str]:
    scopes = sorted({s.strip() for s in raw if s.strip()})
    unknown = [s for s in scopes if s not in TOKEN_SCOPES]
    if unknown:
        raise InvalidInput(
            [
                FieldError(
                    "scopes", f"unknown {', '.join(unknown)}; expected some of {', '.join(TOKEN_SCOPES)}"
                )
            ]
        )
    if not scopes:
        raise InvalidInput([FieldError("scopes", f"at least one of {', '.join(TOKEN_SCOPES)}")])
    return scopes


def _check_role_allows(user: Any, scopes: list[str]) -> None:
    """Raise InvalidInput (``scopes``) unless ``user``'s role may hold every one of ``scopes``."""
    allowed = scopes_allowed(user)
    beyond = [s for s in scopes if s not in allowed]
    if not beyond:
        return
    role = role_of(user)
    who = f"{'an' if role[0] in 'aeiou' else 'a'} {role}" if role else "a user without a role"
    may = f"; allowed: {', '.join(sorted(allowed))}" if allowed else ""
    raise InvalidInput([FieldError("scopes", f"{who} may not hold {', '.join(beyond)}{may}")])


def _describe(token: ApiToken) -> dict[str, Any]:
    """What the audit log keeps of a token: never the secret or its hash."""
    return {
        "user": token.user.get_username(),
        "name": token.name,
        "prefix": token.prefix,
        "scopes": list(token.scopes),
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "allowed_networks": list(token.allowed_networks),
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


@governed
def do_create_token(
    user: Any,
    *,
    actor: Actor,
    scopes: Iterable[str],
    name: str = "",
    expires_at: datetime | None = None,
    allowed_networks: Iterable[str] = (),
) -> tuple[ApiToken, str]:
    """Make a token for ``user``; returns ``(token, secret)``. The secret is never stored or shown again.

    A user may make their own tokens; an admin may make anyone's. Through a token, no one may
    make tokens. Raises InvalidInput (``scopes``, ``name``, ``expires_at``, ``allowed_networks[i]``),
    PermissionRefused.
    """
    if actor.token is not None or actor.user is None or actor.user.pk != user.pk:
        refuse_unless(actor, "admin", object_type="user", object_id=user.get_username())
    clean_scopes = _scopes(scopes)
    networks = _networks(allowed_networks)
    if len(name) > 100:
        raise InvalidInput([FieldError("name", "at most 100 characters")])
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput([FieldError("expires_at", "must be in the future")])
    if not user.is_active:
        raise InvalidInput([FieldError("user", f"{user.get_username()} is disabled")])
    _check_role_allows(user, clean_scopes)
    prefix = secrets.token_hex(6)
    secret = f"hub_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        user=user,
        name=name.strip(),
        prefix=prefix,
        secret_hash=hash_secret(secret),
        scopes=clean_scopes,
        expires_at=expires_at,
        allowed_networks=networks,
    )
    record("token.create", actor=actor, object_type="token", object_id=prefix, after=_describe(token))
    return token, secret


@governed
def do_revoke_token(token: ApiToken, *, actor: Actor) -> bool:
    """Revoke ``token`` (its owner or an admin); it stops working at once. False if already revoked."""
    if actor.user is None or actor.user.pk != token.user_id or actor.token is not None:
        refuse_unless(actor, "admin", object_type="token", object_id=token.prefix)
    locked = ApiToken.objects.select_for_update().select_related("user").get(pk=token.pk)
    if locked.revoked_at is not None:
        return False
    before = _describe(locked)
    locked.revoked_at = timezone.now()
    locked.save(update_fields=["revoked_at"])
    token.revoked_at = locked.revoked_at
    record("token.revoke", actor=actor, object_type="token", object_id=locked.prefix, before=before)
    return True
