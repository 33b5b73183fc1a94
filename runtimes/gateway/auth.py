"""API-token checks for the gateway and the API, cached by a hash of the secret.

The governance service (``models_admin.tokens.authenticate_token``) is the one place
that decides whether a secret is valid (expiry, revocation, allowed networks, active
user). Its answer is cached for a few seconds under ``sha256(secret, remote address)``;
revoking or editing a token announces ``tokens`` on the invalidation channel, which
empties the cache in every process.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

SCOPES = ("read", "write", "operate", "approve", "gateway", "inference")


@dataclass(frozen=True)
class Principal:
    """Who a valid token acts for, and what it may do."""

    user_id: int
    username: str
    scopes: frozenset[str]
    token_label: str
    token_id: int | None = None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def cache_key(secret: str, remote_addr: str | None) -> str:
    return hashlib.sha256(f"{secret}\x00{remote_addr or ''}".encode()).hexdigest()


def bearer_secret(header: str | None) -> str | None:
    """The secret of an ``Authorization: Bearer <secret>`` header, or None."""
    if not header:
        return None
    scheme, _, secret = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


def authenticate(secret: str, remote_addr: str | None) -> tuple[Principal, Any] | None:
    """Ask governance about ``secret`` (database queries; call from a thread).

    Returns the principal and the ``ApiToken`` itself, or None when the token is unknown,
    expired, revoked, used from a network it does not allow, or its user is inactive.
    """
    try:
        from models_admin.tokens import authenticate_token
    except ImportError:  # governance tokens not built yet: nothing authenticates
        return None
    token = authenticate_token(secret, remote_addr=remote_addr)
    if token is None:
        return None
    user = token.user
    principal = Principal(
        user_id=int(user.pk),
        username=str(user.get_username()),
        scopes=frozenset(s for s in SCOPES if token.has_scope(s)),
        token_label=f"token {token.label}",
        token_id=int(token.pk),
    )
    return principal, token
