"""Refuse request bodies over ``HUB_MAX_BODY_BYTES`` before anything reads them.

A declared ``Content-Length`` over the limit answers 413 at once: the API's JSON error
shape under ``/api/``, a page saying what happened elsewhere (a form too large to post).
A body with no length that grows past the limit makes Django raise ``RequestDataTooBig``
when read; the API maps that to the same 413 (``hub/api.py``).
"""

from __future__ import annotations

from collections.abc import Callable

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
