"""Hub-UI: the Users page (admins only) and each person's own password page.

Each POST calls one service of ``models_admin.users`` (or ``roles.do_set_role``), which
checks the permission again and writes the audit row. Disabling an account and resetting
a password are confirmed first: the buttons open a confirmation page that POSTs.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from actions.users import (
    do_change_password,
    do_create_user,
    do_reset_password,
    do_set_role,
    do_set_user_active,
)
from models_admin.roles import ROLES
from models_admin.ui.forms import PasswordChangeForm, RoleForm, UserCreateForm
from models_admin.ui.helpers import DOMAIN_ERRORS, attach_errors, chosen, require, signed_in_user, ui_actor
from models_admin.ui.user_rows import user_rows


@login_required
@require_http_methods(["GET", "POST"])
def users(request: HttpRequest) -> HttpResponse:
    """Every account with its role and state; creating one shows its password once."""
    require(request, "admin")
    form = UserCreateForm(request.POST or None)
    created: tuple[str, str] | None = None
    if request.method == "POST" and form.is_valid():
        try:
            user, password = do_create_user(
                form.cleaned_data["username"], role=form.cleaned_data["role"], actor=ui_actor(request)
            )
        except DOMAIN_ERRORS as exc:
            attach_errors(form, exc)
        else:
            created = (user.get_username(), password)
            form = UserCreateForm()
    context = {
        "form": form,
        "created": created,
        "rows": user_rows(),
        "roles": ROLES,
        "me": signed_in_user(request).pk,
    }
    return render(request, "models_admin/users.html", context)


def _disable(request: HttpRequest, target: User) -> str:
    changed = do_set_user_active(target, False, actor=ui_actor(request))
    return (
        f"Disabled {target.get_username()}." if changed else f"{target.get_username()} was already disabled."
    )


def _enable(request: HttpRequest, target: User) -> str:
    changed = do_set_user_active(target, True, actor=ui_actor(request))
    return f"Enabled {target.get_username()}." if changed else f"{target.get_username()} was already enabled."


def _set_role(request: HttpRequest, target: User) -> str:
    form = RoleForm(request.POST)
    if not form.is_valid():
        raise ValueError(f"role: must be one of {', '.join(ROLES)}")
    role = form.cleaned_data["role"]
    changed = do_set_role(target, role, actor=ui_actor(request))
    return (
        f"{target.get_username()} is now {role}."
        if changed
        else f"{target.get_username()} was already {role}."
    )


# action -> (button label, what the confirmation page says, the POST's work)
USER_ACTIONS: dict[str, tuple[str, str, Callable[[HttpRequest, User], str] | None]] = {
    "disable": (
        "Disable",
        "They cannot log in any more; their sessions end and their API tokens stop working.",
        _disable,
    ),
    "enable": ("Enable", "They can log in again with their password and use their API tokens.", _enable),
    "role": ("Set the role of", "", _set_role),
    "reset-password": (
        "Reset the password of",
        "A new password is generated and shown to you once; their current password and sessions stop working.",
        None,  # answers with the new password itself, below
    ),
}


@login_required
@require_http_methods(["GET", "POST"])
def user_action(request: HttpRequest, user_id: int, action: str) -> HttpResponse:
    """GET: the confirmation page (no JavaScript needed); POST: act, then back to Users."""
    label, explanation, work = chosen(request, USER_ACTIONS, action, needs="admin")
    target = get_object_or_404(User, pk=user_id)
    context = {"target": target, "action": action, "label": label, "explanation": explanation, "roles": ROLES}
    if request.method == "GET":
        return render(request, "models_admin/user_confirm.html", context)
    try:
        if work is None:
            password = do_reset_password(target, actor=ui_actor(request))
            return render(request, "models_admin/user_confirm.html", {**context, "password": password})
        messages.success(request, work(request, target))
    except DOMAIN_ERRORS as exc:
        messages.error(request, f"{target.get_username()}: {exc}")
    return redirect("models_admin:users")


@login_required
@require_http_methods(["GET", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    """Anyone signed in changes their own password (proving the current one); they stay signed in."""
    form = PasswordChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = signed_in_user(request)
        try:
            do_change_password(
                user,
                old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["new_password"],
                actor=ui_actor(request),
            )
        except DOMAIN_ERRORS as exc:
            attach_errors(form, exc)
        else:
            update_session_auth_hash(request, user)
            messages.success(request, "Your password is changed.")
            return redirect("models_admin:password-change")
    return render(request, "models_admin/password_change.html", {"form": form})
