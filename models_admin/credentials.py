"""Who a bearer token acts for: one parser, one check, one cache, for the gateway and the API.

The governance service (``models_admin.tokens.authenticate_token``) is the one place
that decides whether a secret is valid (expiry, revocation, allowed networks, active
user, the scopes the owner's role allows). Its answer is cached for a few seconds under
``sha256(secret, remote address)``, and a cached answer is used only while

- the token has not expired (checked on every hit), and
- the authorization generation in Redis (:data:`AUTH_GENERATION`, incremented whenever a
  token, a user or a role changes, in any process) is the one read before the answer was
  computed: the change is seen by the very next request everywhere, not when a message
  arrives. Without Redis nothing is cached.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

import core.redis
from models_admin.models import TOKEN_SCOPES, ApiToken
from models_admin.tokens import authenticate_token

log = logging.getLogger(__name__)

SCOPES = TOKEN_SCOPES

AUTH_GENERATION = "hub:auth:generation"
"""Redis counter bumped (after commit) whenever a token, a user or a role changes."""


class AsyncReader(Protocol):
    """An asyncio Redis client that can GET (redis-py's, or the gateway's own)."""

    def get(self, name: str, /) -> Awaitable[Any]: ...


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
        return _generation(core.redis.client().get(AUTH_GENERATION))
    except Exception:
        log.warning("authorization generation unavailable; token checks go to the database", exc_info=True)
        return None


async def generation_async(client: AsyncReader) -> int | None:
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


# The one cache of valid answers, shared by the API and the gateway of this process.

TOKEN_CACHE_MAX = 10_000
_token_cache: dict[str, tuple[float, tuple[Principal, Any]]] = {}


def cached(key: str, current: int | None) -> tuple[Principal, Any] | None:
    """The cached answer under ``key`` (:func:`cache_key`) if it may still stand (:func:`still_valid`)."""
    hit = _token_cache.get(key)
    if hit is None or hit[0] < time.monotonic() or not still_valid(hit[1], current):
        return None
    return hit[1]


def cached_any(key: str) -> tuple[Principal, Any] | None:
    """The cached answer under ``key`` whatever generation it was computed under (not expired):
    for a caller that confirms the generation later, before it acts (the gateway)."""
    hit = _token_cache.get(key)
    if hit is None or hit[0] < time.monotonic():
        return None
    expires_at = hit[1][0].expires_at
    return hit[1] if expires_at is None or expires_at > time.time() else None


def remember(key: str, result: tuple[Principal, Any] | None, current: int | None) -> None:
    """Keep a valid answer computed under generation ``current`` (never without one)."""
    if result is None or current is None:
        return
    if len(_token_cache) >= TOKEN_CACHE_MAX:
        _token_cache.clear()
    _token_cache[key] = (time.monotonic() + float(settings.HUB_TOKEN_CACHE_S), result)


def authenticate_cached(secret: str, remote_addr: str | None) -> tuple[Principal, Any] | None:
    """:func:`authenticate` behind the cache: the database only on a miss (sync callers)."""
    key = cache_key(secret, remote_addr)
    current = generation()
    hit = cached(key, current)
    if hit is not None:
        return hit
    result = authenticate(secret, remote_addr, current)
    remember(key, result, current)
    return result


def forget_tokens() -> None:
    """Drop every cached answer (a token changed somewhere)."""
    _token_cache.clear()


# Who may do what changed: bump the generation (after commit), so no cached answer stands.


def bump_generation() -> None:
    """Make every cached answer, in every process, stale once the current transaction commits."""

    def bump() -> None:
        try:
            core.redis.client().incr(AUTH_GENERATION)
        except Exception:  # without Redis nothing is cached either (generation() is None)
            log.warning("authorization generation not bumped", exc_info=True)

    transaction.on_commit(bump)


def _token_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    bump_generation()


def _user_saved(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    # Active, superuser, staff: who may do what. A login only stamps last_login.
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return
    bump_generation()


def _membership_changed(sender: Any, action: str = "", **kwargs: Any) -> None:
    # A user's roles (groups) or a role's permissions.
    if action in ("post_add", "post_remove", "post_clear"):
        bump_generation()


def connect_signals() -> None:
    """Bump the generation on any change to a token, a user, a role or a role's permissions.
    Called from ``ModelsAdminConfig.ready()`` in every process that writes these rows."""
    post_save.connect(_token_changed, sender=ApiToken, dispatch_uid="credentials-ApiToken-save")
    post_delete.connect(_token_changed, sender=ApiToken, dispatch_uid="credentials-ApiToken-delete")
    post_save.connect(_user_saved, sender=User, dispatch_uid="credentials-User-save")
    post_delete.connect(_token_changed, sender=User, dispatch_uid="credentials-User-delete")
    post_delete.connect(_token_changed, sender=Group, dispatch_uid="credentials-Group-delete")
    m2m_changed.connect(
        _membership_changed, sender=User.groups.through, dispatch_uid="credentials-User-groups"
    )
    m2m_changed.connect(
        _membership_changed, sender=Group.permissions.through, dispatch_uid="credentials-Group-permissions"
    )
