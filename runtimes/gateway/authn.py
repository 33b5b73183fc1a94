"""The gateway's token check: a bearer token with the ``inference`` scope, cached briefly.

``runtimes.gateway.auth`` decides (and caches under the authorization generation); this
keeps the answer in the process for ``HUB_GATEWAY_TOKEN_TTL_S`` so a request for a running
model touches no database, and uses it only while the generation is unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis as AsyncRedis

from runtimes.gateway import auth
from runtimes.gateway.asgi import Scope, header
from runtimes.gateway.cache import TTLCache
from runtimes.gateway.errors import AuthenticationFailed, PermissionDenied

Hit = tuple[auth.Principal, Any]


class TokenCheck:
    def __init__(
        self, redis: AsyncRedis, ttl_s: float, db: Callable[[Callable[[], Any]], Awaitable[Any]]
    ) -> None:
        self.redis = redis
        self.cache: TTLCache[Hit] = TTLCache(ttl_s)
        self.db = db

    def forget(self) -> None:
        self.cache.clear()
        auth.forget_tokens()

    async def __call__(self, scope: Scope) -> Hit:
        """The token's principal and row; 401 without a valid token, 403 without the scope."""
        secret = auth.bearer_secret(header(scope, b"authorization"))
        if secret is None:
            raise AuthenticationFailed("missing bearer token: send 'Authorization: Bearer <token>'")
        remote = (scope.get("client") or (None,))[0]
        key = auth.cache_key(secret, remote)
        generation = await auth.generation_async(self.redis)
        hit = self.cache.get(key)
        if hit is None or not auth.still_valid(hit, generation):
            hit = await self.db(lambda: auth.authenticate(secret, remote, generation))
            if hit is None:
                raise AuthenticationFailed("invalid, expired or revoked API token")
            if generation is not None:
                self.cache.put(key, hit)
        if not hit[0].has_scope("inference"):
            raise PermissionDenied("this token lacks the 'inference' scope")
        return hit
