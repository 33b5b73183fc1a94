"""The request id: set per web request (or taken from ``X-Request-ID``), carried into the
tasks that request enqueues, and written on audit rows and log lines."""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_VALID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def current_request_id() -> str | None:
    return request_id_var.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Adopts a well-formed incoming ``X-Request-ID`` or makes one; echoes it on the response.

    Sync and async capable: under ASGI, one sync-only middleware makes Django run the
    whole chain of every request through ``sync_to_async`` on a single thread.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        rid = _adopt(request)
        token = request_id_var.set(rid)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = rid
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        rid = _adopt(request)
        token = request_id_var.set(rid)
        try:
            response = await self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = rid
        return response  # type: ignore[no-any-return]


def _adopt(request: HttpRequest) -> str:
    incoming = request.headers.get("X-Request-ID", "")
    rid = incoming if _VALID.match(incoming) else new_request_id()
    request.request_id = rid  # type: ignore[attr-defined]
    return rid
