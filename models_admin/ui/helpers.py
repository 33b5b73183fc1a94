"""What every Hub-UI view needs from a request: who is asking, may they, and errors onto forms.

Shared by ``views`` (models, approvals, tokens…) and ``user_views`` (users, passwords).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from models_admin import governance
from models_admin.audit import Actor, actor_for
from models_admin.models import AuditSource
from models_admin.roles import has_permission
from runtimes import lifecycle

T = TypeVar("T")

# Refusals a view shows as a message rather than a 500.
DOMAIN_ERRORS = (governance.GovernanceError, lifecycle.LifecycleError, ValueError)


def can(request: HttpRequest, action: str) -> bool:
    """``models_admin.roles.has_permission``, computed once per request and action."""
    cache: dict[str, bool] = request.__dict__.setdefault("_hub_perms", {})
    if action not in cache:
        cache[action] = has_permission(request.user, action)
    return cache[action]


def require(request: HttpRequest, action: str) -> None:
    if not can(request, action):
        raise PermissionDenied(f"This needs the {action} permission.")


def chosen(request: HttpRequest, table: Mapping[str, T], key: str, *, needs: str) -> T:
    """``table[key]`` for a view that acts on a URL-named choice: 404 for an unknown one, 403
    unless the person may ``needs``."""
    if key not in table:
        raise Http404
    require(request, needs)
    return table[key]


def ui_actor(request: HttpRequest) -> Actor:
    return actor_for(request.user, AuditSource.UI)


def signed_in_user(request: HttpRequest) -> User:
    """The signed-in user (every view here is ``login_required``)."""
    assert isinstance(request.user, User)
    return request.user


def attach_errors(form: Any, exc: Exception) -> None:
    """Field errors from a service (``InvalidInput`` / ``AssetValidationError``) onto the form."""
    for error in getattr(exc, "errors", None) or []:
        field = getattr(error, "path", "")
        form.add_error(field if field in form.fields else None, getattr(error, "message", str(error)))
    if not getattr(exc, "errors", None):
        form.add_error(None, str(exc))
