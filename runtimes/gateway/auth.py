"""API-token checks for the gateway and the API, cached by a hash of the secret.

The governance service (``models_admin.tokens.authenticate_token``) is the one place
that decides whether a secret is valid (expiry, revocation, allowed networks, active
user, the scopes the owner's role allows). Its answer is cached for a few seconds under
``sha256(secret, remote address)``, and a cached answer is used only while

- the token has not expired (checked on every hit), and
- the authorization generation in Redis (``cache.AUTH_GENERATION``, incremented whenever a
  token, a user or a role changes, in any process) is the one read before the answer was
  computed: the change is seen by the very next request everywhere, not when a message
  arrives. Without Redis nothing is cached.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from ninja.security import HttpBearer
from redis.asyncio import Redis as AsyncRedis

from runtimes.gateway.cache import AUTH_GENERATION, publisher

log = logging.getLogger(__name__)

SCOPES = ("read", "write", "operate", "approve", "gateway", "inference")


@dataclass(frozen=True)
class Principal:
    """Who a valid token acts for, and what it may do."""

    user_id: int
    username: str
    scopes: frozenset[str]
    token_label: str
    token_id: int | None = None
    expires_at: float | None = None  # unix seconds
    generation: int | None = None  # the AUTH_GENERATION this answer was computed under

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def _generation(raw: Any) -> int:
    return int(raw or 0)


def generation() -> int | None:
    """The current authorization generation, or None when Redis cannot say (then: no cache)."""
    try:
        return _generation(publisher().get(AUTH_GENERATION))
    except Exception:
        log.warning("authorization generation unavailable; token checks go to the database", exc_info=True)
        return None


async def generation_async(client: AsyncRedis) -> int | None:
    """:func:`generation` for asyncio callers (the gateway, on its own pool)."""
    try:
        return _generation(await client.get(AUTH_GENERATION))
    except Exception:
        log.warning("authorization generation unavailable; token checks go to the database", exc_info=True)
        return None


def still_valid(hit: tuple[Principal, Any], current: int | None) -> bool:
    """May a cached answer stand in for the database now? Same generation, and not expired."""
    principal = hit[0]
    if current is None or principal.generation != current:
        return False
    return principal.expires_at is None or principal.expires_at > time.time()


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


def authenticate(
    secret: str, remote_addr: str | None, generation: int | None = None
) -> tuple[Principal, Any] | None:
    """Ask governance about ``secret`` (database queries; call from a thread).

    Returns the principal and the ``ApiToken`` itself, or None when the token is unknown,
    expired, revoked, used from a network it does not allow, or its user is inactive.
    ``generation`` (read *before* calling) is stamped on the principal for :func:`still_valid`.
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
        expires_at=token.expires_at.timestamp() if token.expires_at is not None else None,
        generation=generation,
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
    """:func:`authenticate` behind a short cache (valid answers only, see :func:`still_valid`).
    Database on a miss."""
    key = cache_key(secret, remote_addr)
    current = generation()
    hit = _cache_get(key)
    if hit is not None and still_valid(hit, current):
        return hit
    result = authenticate(secret, remote_addr, current)
    if result is not None and current is not None:
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
