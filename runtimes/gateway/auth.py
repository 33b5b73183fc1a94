"""API-token checks for the gateway and the API, cached by a hash of the secret.

The governance service (``models_admin.tokens.authenticate_token``) is the one place
that decides whether a secret is valid (expiry, revocation, allowed networks, active
user). Its answer is cached for a few seconds under ``sha256(secret, remote address)``;
revoking or editing a token announces ``tokens`` on the invalidation channel, which
empties the cache in every process.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from ninja.security import HttpBearer

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


# The django-ninja API's authentication (sync and async), sharing the same cache.


class ApiError(Exception):
    """An error an API handler answers directly (status, stable code, message, field)."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Caller:
    """Who calls the API: a user, through a token (``token`` set) or a browser session."""

    user: Any
    token: Any = None

    def actor(self) -> Any:
        from models_admin.audit import Actor

        if self.token is not None:
            return Actor.for_token(self.token)
        return Actor(user=self.user, source="api")

    def may(self, action: str) -> bool:
        from models_admin.roles import has_permission

        return has_permission(self.user, action, token=self.token)


TOKEN_CACHE_S = 10.0
_token_cache: dict[str, tuple[float, tuple[Principal, Any]]] = {}


def _cache_get(key: str) -> tuple[Principal, Any] | None:
    hit = _token_cache.get(key)
    if hit is None or hit[0] < time.monotonic():
        return None
    return hit[1]


def _cached_authenticate(secret: str, remote_addr: str | None) -> tuple[Principal, Any] | None:
    """:func:`authenticate` behind a short cache (valid answers only). Database on a miss."""
    key = cache_key(secret, remote_addr)
    hit = _cache_get(key)
    if hit is not None:
        return hit
    result = authenticate(secret, remote_addr)
    if result is not None:
        if len(_token_cache) > 10_000:
            _token_cache.clear()
        _token_cache[key] = (time.monotonic() + TOKEN_CACHE_S, result)
    return result


def forget_tokens() -> None:
    """Drop every cached token answer (a token changed somewhere)."""
    _token_cache.clear()


def _remote(request: Any) -> str | None:
    remote = request.META.get("REMOTE_ADDR")
    return str(remote) if remote else None


def _no_response(request: Any) -> Any:
    return None


def _no_view(request: Any) -> Any:
    return None


def _session_caller(request: Any) -> Caller | None:
    from django.middleware.csrf import CsrfViewMiddleware

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
        reason = CsrfViewMiddleware(_no_response).process_view(request, _no_view, (), {})
        if reason is not None:
            raise ApiError(403, "csrf_failed", "CSRF check failed: send the X-CSRFToken header")
    return Caller(user=user)


def _token_caller(request: Any) -> Caller | None:
    secret = bearer_secret(request.META.get("HTTP_AUTHORIZATION"))
    if secret is None:
        return None
    hit = _cached_authenticate(secret, _remote(request))
    if hit is None:
        raise ApiError(401, "invalid_api_key", "invalid, expired or revoked API token")
    return Caller(user=hit[1].user, token=hit[1])


class ApiAuth(HttpBearer):
    """Bearer token first, else the session (with CSRF). ``request.auth`` is a :class:`Caller`."""

    def __call__(self, request: Any) -> Caller | None:
        return _token_caller(request) or _session_caller(request)

    def authenticate(self, request: Any, token: str) -> Caller | None:
        return _token_caller(request)


api_auth = ApiAuth()
