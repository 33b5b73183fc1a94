"""API tokens: ``hub_<prefix>_<secret>``, shown once, stored only as a keyed hash; how a secret
is checked and what a token grants now. Making and revoking them: ``actions/tokens.py``.

The hash is HMAC-SHA256 keyed with a key derived from ``SECRET_KEY`` (Django's
``salted_hmac``), so a leaked database alone does not let anyone check guesses. The prefix
(stored in clear, unique) finds the row and is how a token is shown and audited.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from models_admin.governance import InvalidTransition
from models_admin.models import TOKEN_SCOPES, ApiToken
from models_admin.roles import scopes_allowed

log = logging.getLogger(__name__)

SECRET_RE = re.compile(r"^hub_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")
LAST_USED_EVERY = timedelta(minutes=1)  # at most one write per token per minute
_KEY_SALT = "models_admin.tokens.ApiToken"


def hash_secret(secret: str) -> str:
    return salted_hmac(_KEY_SALT, secret, algorithm="sha256").hexdigest()


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
