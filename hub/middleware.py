"""Refuse request bodies over ``HUB_MAX_BODY_BYTES`` before anything reads them.

A declared ``Content-Length`` over the limit answers 413 at once: the API's JSON error
shape under ``/api/``, a page saying what happened elsewhere (a form too large to post).
A body with no length that grows past the limit makes Django raise ``RequestDataTooBig``
when read; the API maps that to the same 413 (``api/errors.py``).

Under ASGI Django reads the whole body before any middleware runs (to a temporary file,
without a bound), so :func:`bounded_body` wraps the ASGI app: a body declared too large is
not read at all (the middleware then answers 413), and one that grows past the limit
without declaring its length ends the request as a client disconnect would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from models_admin.limits import max_body_bytes


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


class BodyLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = max_body_bytes()
        if _declared_length(request) <= limit:
            return self.get_response(request)
        message = f"the request body is larger than {limit} bytes"
        if request.path.startswith("/api/"):
            body = {"error": {"code": "payload_too_large", "message": message, "retryable": False}}
            return JsonResponse(body, status=413)
        return render(request, "models_admin/too_large.html", {"limit": limit}, status=413)


Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]


def bounded_body(app: ASGIApp) -> ASGIApp:
    """``app`` reading at most ``HUB_MAX_BODY_BYTES`` of any HTTP request body."""

    async def bounded(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        limit = max_body_bytes()
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        too_big = declared.isdigit() and int(declared) > limit
        seen = 0
        ended = False

        async def limited() -> Message:
            nonlocal seen, ended
            if too_big:  # not read: the middleware answers 413 from the declared length
                if ended:  # Django's disconnect listener: it is cancelled once the 413 is sent
                    await asyncio.get_running_loop().create_future()
                ended = True
                return {"type": "http.request", "body": b"", "more_body": False}
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                return {"type": "http.disconnect"}
            return message

        await app(scope, limited, send)

    return bounded
