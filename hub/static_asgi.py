"""Static files on the ASGI app, answered before Django, from WhiteNoise's index.

WhiteNoise's Django middleware (in ``MIDDLEWARE``, for the WSGI app and the test server)
answers with a synchronous file iterator, which Django's ASGI handler can only buffer, with
a warning per process. Here the same files, with the same headers (content-hashed names
cached for a year, gzip/brotli chosen by ``Accept-Encoding``, ETag and 304, ranges), are
streamed in chunks read off the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from whitenoise.middleware import WhiteNoiseMiddleware

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

CHUNK = 64 * 1024


class StaticFiles:
    """``await static(scope, receive, send)`` answers a static file and returns True, or returns
    False without sending anything (not a static path, or no such file: Django answers)."""

    def __init__(self) -> None:
        # Reads the WHITENOISE_* / STATIC_* settings and indexes STATIC_ROOT (and the finders
        # in tests and DEBUG) once, as the middleware does.
        self._index = WhiteNoiseMiddleware(get_response=None)
        self.prefix: str = self._index.static_prefix

    def _find(self, path: str) -> Any:
        if self._index.autorefresh:
            return self._index.find_file(path)
        return self._index.files.get(path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> bool:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            return False
        static_file = self._find(scope["path"])
        if static_file is None:
            return False
        environ = {
            "HTTP_" + name.decode("latin-1").upper().replace("-", "_"): value.decode("latin-1")
            for name, value in scope["headers"]
        }
        response = static_file.get_response(scope["method"], environ)
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
        headers.append((b"x-content-type-options", b"nosniff"))
        await send({"type": "http.response.start", "status": int(response.status), "headers": headers})
        if response.file is None:
            await send({"type": "http.response.body", "body": b""})
            return True
        try:
            while True:
                chunk = await asyncio.to_thread(response.file.read, CHUNK)
                await send({"type": "http.response.body", "body": chunk, "more_body": bool(chunk)})
                if not chunk:
                    break
        finally:
            response.file.close()
        return True
