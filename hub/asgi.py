"""ASGI entry point: Hub-UI, the API and the gateway on one port (uvicorn).

``/v1/`` goes straight to the gateway, a raw ASGI app (no Django request stack on the
inference hot path); ``/static/`` files are streamed by ``hub.static_asgi``; everything
else goes to Django. Lifespan events start and stop
the gateway's pools and its cache-invalidation listener.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
django_application = get_asgi_application()

from hub.middleware import bounded_body  # noqa: E402
from hub.static_asgi import StaticFiles  # noqa: E402  (reads settings)
from runtimes.gateway import gateway  # noqa: E402  (needs the app registry ready)

# Django's ASGI handler reads a whole body before its middleware runs: bound it here.
django_bounded = bounded_body(django_application)  # type: ignore[arg-type]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

static_files = StaticFiles()


async def application(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan" or (scope["type"] == "http" and scope["path"].startswith("/v1/")):
        await gateway(scope, receive, send)
    elif not await static_files(scope, receive, send):
        await django_bounded(scope, receive, send)
