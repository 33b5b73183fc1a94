"""API tokens: ``hub_<prefix>_<secret>``, shown once, stored only as a keyed hash.

The hash is HMAC-SHA256 keyed with a key derived from ``SECRET_KEY`` (Django's
``salted_hmac``), so a leaked database alone does not let anyone check guesses. The prefix
(stored in clear, unique) finds the row and is how a token is shown and audited.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from models_admin.audit import Actor, record
from models_admin.governance import InvalidInput, InvalidTransition, governed, refuse_unless
from models_admin.models import TOKEN_SCOPES, ApiToken
from models_admin.roles import role_of, scopes_allowed
from models_admin.validation import FieldError

log = logging.getLogger(__name__)

SECRET_RE = re.compile(r"^hub_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")
LAST_USED_EVERY = timedelta(minutes=1)  # at most one write per token per minute
_KEY_SALT = "models_admin.tokens.ApiToken"


def hash_secret(secret: str) -> str:
    return salted_hmac(_KEY_SALT, secret, algorithm="sha256").hexdigest()


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


def get_token_by_prefix(prefix: str) -> ApiToken:
    """For commands and views: the token with this prefix (``hub_`` optional). Raises InvalidTransition."""
    prefix = prefix.removeprefix("hub_")
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None:
        raise InvalidTransition(f"no token with prefix {prefix!r}")
    return token


def _network_allowed(token: ApiToken, remote_addr: str | None) -> bool:
    if not token.allowed_networks:
        return True
    if not remote_addr:
        return False
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in token.allowed_networks)


def authenticate_token(secret: str, *, remote_addr: str | None) -> ApiToken | None:
    """The live token for ``secret`` (with ``token.user`` loaded), or None.

    None when malformed, unknown, wrong, revoked, expired, from outside ``allowed_networks``, or
    when the user is disabled. Refusals are logged by prefix only. Updates ``last_used_at`` at
    most once a minute. The token's scopes count only as far as its owner's current role allows
    (``token.granted_scopes``), so lowering a role narrows its tokens at once.
    """
    match = SECRET_RE.match(secret or "")
    if match is None:
        return None
    prefix = match.group(1)
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.secret_hash, hash_secret(secret)):
        log.info("api token refused: prefix=%s reason=unknown or wrong secret", prefix)
        return None
    now = timezone.now()
    reason = None
    if token.revoked_at is not None:
        reason = "revoked"
    elif token.expires_at is not None and token.expires_at <= now:
        reason = "expired"
    elif not token.user.is_active:
        reason = "user disabled"
    elif not _network_allowed(token, remote_addr):
        reason = f"address {remote_addr} outside allowed networks"
    if reason is not None:
        log.info("api token refused: prefix=%s reason=%s", prefix, reason)
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_EVERY)
        ).update(last_used_at=now)
        token.last_used_at = now
    token.granted_scopes = frozenset(effective_scopes(token))
    return token


def effective_scopes(token: ApiToken, allowed: frozenset[str] | None = None) -> list[str]:
    """The scopes ``token`` grants now: its stored scopes narrowed to what its owner's current role
    may hold (``allowed``, computed if not given), in :data:`TOKEN_SCOPES` order."""
    if allowed is None:
        allowed = scopes_allowed(token.user)
    return [s for s in TOKEN_SCOPES if s in token.scopes and s in allowed]


def with_effective_scopes(tokens: Iterable[ApiToken]) -> list[tuple[ApiToken, list[str]]]:
    """Each token with :func:`effective_scopes`, the owners' roles read once per owner (for the UI)."""
    allowed: dict[int, frozenset[str]] = {}
    out = []
    for token in tokens:
        if token.user_id not in allowed:
            allowed[token.user_id] = scopes_allowed(token.user)
        out.append((token, effective_scopes(token, allowed[token.user_id])))
    return out


def tokens_of(user: Any) -> list[ApiToken]:
    """``user``'s tokens, newest first (for the UI)."""
    return list(ApiToken.objects.filter(user=user).order_by("-created_at"))
