"""Who calls the API, and may they: a bearer token first, else the browser session (with CSRF).

Tokens are checked by :mod:`models_admin.credentials` (one parser, one check, one cache, shared
with the gateway); what a caller may do is :func:`models_admin.roles.has_permission`, the one
table of roles and token scopes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.middleware.csrf import CsrfViewMiddleware
from ninja.security import HttpBearer

from api.errors import ApiError
from models_admin.audit import Actor
from models_admin.credentials import authenticate_cached, bearer_secret
from models_admin.roles import has_permission


@dataclass(frozen=True)
class Caller:
    """Who calls the API: a user, through a token (``token`` set) or a browser session."""

    user: Any
    token: Any = None

    def actor(self) -> Actor:
        if self.token is not None:
            return Actor.for_token(self.token)
        return Actor(user=self.user, source="api")

    def may(self, action: str) -> bool:
        return has_permission(self.user, action, token=self.token)


def _remote(request: Any) -> str | None:
    remote = request.META.get("REMOTE_ADDR")
    return str(remote) if remote else None


def _no_response(request: Any) -> Any:
    return None


def _no_view(request: Any) -> Any:
    return None


def _session_caller(request: Any) -> Caller | None:
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
    hit = authenticate_cached(secret, _remote(request))
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


def caller(request: HttpRequest) -> Caller:
    auth = getattr(request, "auth", None)
    if not isinstance(auth, Caller):
        raise ApiError(401, "unauthenticated", "send a valid API token or log in")
    return auth


def require(request: HttpRequest, action: str) -> Caller:
    """The caller, if their role and token scope allow ``action``; else 403."""
    who = caller(request)
    if not who.may(action):
        raise ApiError(
            403, "permission_denied", f"this needs the {action!r} permission (role and token scope)"
        )
    return who


def require_gateway(request: HttpRequest) -> Caller:
    """The caller, if it is a token with the ``gateway`` scope; else 403."""
    who = caller(request)
    if who.token is None or not who.token.has_scope("gateway"):
        raise ApiError(403, "permission_denied", "this needs an API token with the 'gateway' scope")
    return who
