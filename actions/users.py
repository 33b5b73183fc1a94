"""People: create accounts, disable and enable them, reset and change passwords.

Roles are set by :func:`do_set_role` (below). Every action here needs the ``admin``
permission, except :func:`do_change_password`, which is each person's own. Passwords are
never written to the audit log; a generated one is returned once, to be shown once.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from models_admin.audit import Actor, record
from models_admin.governance import InvalidInput, PermissionRefused, governed, refuse_unless
from models_admin.roles import ROLES, UnknownRole, role_group
from models_admin.validation import FieldError

USERNAME_MAX = 150


def generate_password() -> str:
    """A random password of 16 URL-safe characters (about 96 bits)."""
    return secrets.token_urlsafe(12)


def _check_username(username: str) -> str:
    name = username.strip()
    if not name:
        raise InvalidInput([FieldError("username", "required")])
    if len(name) > USERNAME_MAX:
        raise InvalidInput([FieldError("username", f"at most {USERNAME_MAX} characters")])
    try:
        UnicodeUsernameValidator()(name)
    except ValidationError:
        raise InvalidInput([FieldError("username", "letters, digits and @ . + - _ only")]) from None
    return name


def _check_password(password: str, user: Any, field: str) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise InvalidInput([FieldError(field, " ".join(exc.messages))]) from None


@governed
def do_create_user(
    username: str, *, role: str, actor: Actor, password: str | None = None
) -> tuple[User, str]:
    """Create an active account holding ``role``; returns ``(user, password)``.

    Without ``password`` one is generated (returned once, never stored in clear). Audited as
    ``user.create`` (and ``role.change``). Raises InvalidInput (``username``: bad or taken,
    ``role``, ``password``: too weak), PermissionRefused unless the actor may ``admin``.
    """
    refuse_unless(actor, "admin", object_type="user", object_id=username.strip()[:USERNAME_MAX])
    name = _check_username(username)
    if role not in ROLES:
        raise InvalidInput([FieldError("role", f"must be one of {', '.join(ROLES)}, got {role!r}")])
    model = get_user_model()
    if model.objects.filter(username__iexact=name).exists():
        raise InvalidInput([FieldError("username", f"{name!r} already exists")])
    candidate = model(username=name)
    if password is not None:
        _check_password(password, candidate, "password")
    secret = password if password is not None else generate_password()
    try:
        with transaction.atomic():  # a savepoint: a lost race leaves the outer block usable
            user = model.objects.create_user(name, password=secret)
    except IntegrityError:
        raise InvalidInput([FieldError("username", f"{name!r} already exists")]) from None
    record(
        "user.create",
        actor=actor,
        object_type="user",
        object_id=name,
        after={"username": name, "role": role, "is_active": True},
    )
    do_set_role(user, role, actor=actor)
    return user, secret


def _locked(user: Any) -> User:
    locked: User = get_user_model().objects.select_for_update().get(pk=user.pk)
    return locked


@governed
def do_set_user_active(user: Any, active: bool, *, actor: Actor) -> bool:
    """Enable or disable ``user``; returns whether anything changed (idempotent).

    A disabled account cannot log in, its sessions stop working and its API tokens are
    refused. No one may disable their own account. Audited as ``user.disable`` /
    ``user.enable``. Raises InvalidInput (``user``), PermissionRefused.
    """
    refuse_unless(actor, "admin", object_type="user", object_id=user.get_username())
    if not active and actor.user is not None and actor.user.pk == user.pk:
        raise InvalidInput([FieldError("user", "you cannot disable your own account")])
    locked = _locked(user)
    if locked.is_active == active:
        return False
    locked.is_active = active
    locked.save(update_fields=["is_active"])
    user.is_active = active
    record(
        "user.enable" if active else "user.disable",
        actor=actor,
        object_type="user",
        object_id=locked.get_username(),
        before={"is_active": not active},
        after={"is_active": active},
    )
    return True


@governed
def do_reset_password(user: Any, *, actor: Actor) -> str:
    """Give ``user`` a new generated password and return it (shown once).

    Their sessions end. Audited as ``user.password_reset`` (without the password).
    Raises PermissionRefused unless the actor may ``admin``.
    """
    refuse_unless(actor, "admin", object_type="user", object_id=user.get_username())
    locked = _locked(user)
    password = generate_password()
    locked.set_password(password)
    locked.save(update_fields=["password"])
    user.password = locked.password
    record("user.password_reset", actor=actor, object_type="user", object_id=locked.get_username())
    return password


@governed
def do_change_password(user: Any, *, old_password: str, new_password: str, actor: Actor) -> None:
    """``user`` changes their own password, proving the current one.

    Audited as ``user.password_change``. Raises InvalidInput (``old_password``: wrong,
    ``new_password``: too weak), PermissionRefused when the actor is not ``user`` in person
    (an admin resets someone else's password with :func:`do_reset_password`).
    """
    if actor.user is None or actor.user.pk != user.pk or actor.token is not None:
        raise PermissionRefused(
            actor,
            "change_password",
            "user",
            user.get_username(),
            f"{actor.label} may not change another account's password",
        )
    locked = _locked(user)
    if not locked.check_password(old_password):
        raise InvalidInput([FieldError("old_password", "is not your current password")])
    _check_password(new_password, locked, "new_password")
    locked.set_password(new_password)
    locked.save(update_fields=["password"])
    user.password = locked.password
    record("user.password_change", actor=actor, object_type="user", object_id=locked.get_username())


# Roles ---------------------------------------------------------------------------------------


def do_set_role(user: Any, role: str | None, *, actor: Actor) -> bool:
    """Give ``user`` exactly ``role`` (None removes every role); returns whether anything changed.

    Audited as ``role.change``. Raises :class:`UnknownRole` (also for a superuser, who is
    always an admin, given another role, and for an actor lowering their own role: that would
    lock them out), or ``models_admin.governance.PermissionRefused`` unless the actor may ``admin``.
    """
    if role is not None and role not in ROLES:
        raise UnknownRole(f"role: must be one of {', '.join(ROLES)}, got {role!r}")
    # Checked before the transaction, so the refusal's audit row is not rolled back with it.
    refuse_unless(actor, "admin", object_type="user", object_id=user.get_username())
    if role != "admin" and getattr(user, "is_superuser", False):
        raise UnknownRole(f"role: {user.get_username()} is a superuser, always admin")
    if role != "admin" and actor.user is not None and actor.user.pk == user.pk:
        raise UnknownRole("role: you cannot lower your own role")
    with transaction.atomic():
        return _set_role(user, role, actor=actor)


def _set_role(user: Any, role: str | None, *, actor: Actor) -> bool:
    before = sorted(Group.objects.filter(user=user, name__in=ROLES).values_list("name", flat=True))
    after = [role] if role else []
    if before == after:
        return False
    user.groups.remove(*Group.objects.filter(name__in=ROLES))
    if role:
        user.groups.add(role_group(role))
    # ModelBackend caches permissions on the instance.
    for attr in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        if hasattr(user, attr):
            delattr(user, attr)
    record(
        "role.change",
        actor=actor,
        object_type="user",
        object_id=user.get_username(),
        before={"roles": before},
        after={"roles": after},
    )
    return True
