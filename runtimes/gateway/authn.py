"""The gateway's token check: a bearer token with the ``inference`` scope.

``models_admin.credentials`` decides, and keeps the one token cache (used only while the
authorization generation is unchanged); this reads the header and says no in the gateway's
error shape.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis as AsyncRedis

from models_admin import credentials
from runtimes.gateway.asgi import Scope, header
from runtimes.gateway.errors import AuthenticationFailed, PermissionDenied


async def authenticate(
    scope: Scope, redis: AsyncRedis, db: Callable[[Callable[[], Any]], Awaitable[Any]]
) -> tuple[credentials.Principal, Any]:
    """The token's principal and row; 401 without a valid token, 403 without the scope."""
    secret = credentials.bearer_secret(header(scope, b"authorization"))
    if secret is None:
        raise AuthenticationFailed("missing bearer token: send 'Authorization: Bearer <token>'")
    remote = (scope.get("client") or (None,))[0]
    key = credentials.cache_key(secret, remote)
    generation = await credentials.generation_async(redis)
    hit = credentials.cached(key, generation)
    if hit is None:
        hit = await db(lambda: credentials.authenticate(secret, remote, generation))
        if hit is None:
            raise AuthenticationFailed("invalid, expired or revoked API token")
        credentials.remember(key, hit, generation)
    if not hit[0].has_scope("inference"):
        raise PermissionDenied("this token lacks the 'inference' scope")
    return hit
