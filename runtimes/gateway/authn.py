"""The gateway's token check: a bearer token with the ``inference`` scope.

``models_admin.credentials`` decides, and keeps the one token cache (used only while the
authorization generation is unchanged); this reads the header and says no in the gateway's
error shape.

A request whose token is in the cache goes on at once on that answer (:class:`TokenCheck`),
and the authorization generation it must match comes back with the request's queue entry
(the same Redis round trip): a changed generation asks the database again before anything
is forwarded, and any error answered before that is checked first, so a revoked token
never sees more than a 401.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from models_admin import credentials
from runtimes.gateway.asgi import Scope, header
from runtimes.gateway.errors import AuthenticationFailed, PermissionDenied

Db = Callable[[Callable[[], Any]], Awaitable[Any]]
Hit = tuple[credentials.Principal, Any]


class TokenCheck:
    """One request's token: known (from the cache, to be confirmed) or checked."""

    def __init__(self, scope: Scope) -> None:
        secret = credentials.bearer_secret(header(scope, b"authorization"))
        if secret is None:
            raise AuthenticationFailed("missing bearer token: send 'Authorization: Bearer <token>'")
        self.secret = secret
        self.remote = (scope.get("client") or (None,))[0]
        self.key = credentials.cache_key(secret, self.remote)
        self.hit: Hit | None = credentials.cached_any(self.key)
        self.confirmed = False

    async def token(self, redis: credentials.AsyncReader, db: Db) -> Any:
        """The token row: the cached answer (confirmed later), or one checked now (also when the
        cached answer lacks the scope: the owner's role may have changed since)."""
        if self.hit is None or not self.hit[0].has_scope("inference"):
            await self.confirm(await credentials.generation_async(redis), db)
        assert self.hit is not None
        return self.hit[1]

    async def confirm(self, generation: int | None, db: Db) -> None:
        """Make sure the answer stands under ``generation`` (read just now): the database is asked
        again when it changed. 401 / 403 when the token no longer may."""
        if self.confirmed:
            return
        if self.hit is None or not credentials.still_valid(self.hit, generation):
            secret, remote = self.secret, self.remote
            self.hit = await db(lambda: credentials.authenticate(secret, remote, generation))
            if self.hit is None:
                raise AuthenticationFailed("invalid, expired or revoked API token")
            credentials.remember(self.key, self.hit, generation)
        _has_scope(self.hit)
        self.confirmed = True

    async def confirm_now(self, redis: credentials.AsyncReader, db: Db) -> None:
        if not self.confirmed:
            await self.confirm(await credentials.generation_async(redis), db)


def _has_scope(hit: Hit) -> None:
    if not hit[0].has_scope("inference"):
        raise PermissionDenied("this token lacks the 'inference' scope")


async def authenticate(scope: Scope, redis: credentials.AsyncReader, db: Db) -> Hit:
    """The token's principal and row, checked now; 401 without a valid token, 403 without the scope."""
    check = TokenCheck(scope)
    await check.confirm_now(redis, db)
    assert check.hit is not None
    return check.hit
