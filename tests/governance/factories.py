"""Factories and helpers for governance tests, reusable by the API and UI tests.

- ``user_with_role("editor")``: a user holding one role (``roles.ROLES``); ``None``: none.
- ``user_for(role)``: as above, plus ``"anonymous"`` → ``AnonymousUser()``.
- ``asset_document(asset_id, **changes)``: a valid LLM document.
- ``draft_revision``, ``submitted_revision``, ``live_asset``: built through the services, so
  every row is one the application could have written (audit rows included). The default
  author is an editor, or an admin for a document with ``runtime.launch`` (admins only).
"""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from factory.django import DjangoModelFactory

from actions.revisions import do_approve_revision, do_create_draft, do_submit_revision
from models_admin.audit import Actor
from models_admin.models import Asset, AssetRevision
from models_admin.roles import role_group

ROLES_UNDER_TEST = ("anonymous", "viewer", "operator", "editor", "approver", "admin")
_asset_ids = itertools.count(1)
_usernames = itertools.count(1)


class UserFactory(DjangoModelFactory[User]):
    """``UserFactory.create(role="editor")``; prefer the typed :func:`user_with_role`."""

    class Meta:
        model = User

    password = "!"  # unusable; tests log in with force_login (hashing is slow)

    @classmethod
    def _create(cls, model_class: type[User], *args: Any, **kwargs: Any) -> User:
        role = kwargs.pop("role", None)
        kwargs.setdefault("username", f"gov-user{next(_usernames)}")
        kwargs.setdefault("email", f"{kwargs['username']}@example.com")
        user = model_class.objects.create(*args, **kwargs)
        if role:
            user.groups.add(role_group(role))
        return user


def user_with_role(role: str | None = None, **fields: Any) -> User:
    """A saved user holding ``role`` (one of ``roles.ROLES``; None: no role)."""
    return UserFactory.create(role=role, **fields)


def user_for(role: str) -> Any:
    """A fresh user holding ``role``, or ``AnonymousUser()`` for ``"anonymous"``."""
    if role == "anonymous":
        return AnonymousUser()
    return user_with_role(role)


def actor(user: Any, source: str = "ui") -> Actor:
    """The actor for ``user`` on ``source`` (anonymous users become a user-less, untrusted actor)."""
    return Actor(user=user if isinstance(user, User) else None, source=source)


def asset_document(asset_id: str | None = None, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "asset_id": asset_id or f"gov-asset-{next(_asset_ids)}",
        "display_name": "Governed LLM",
        "version": "1.0.0",
        "interface": "llm-runtime",
        "interface_version": "v1",
        "class": "model",
        "lifecycle": {"desired": "on-demand", "auto_sleep_min": 15},
        "policy": {"max_concurrency": 2},
        "metadata": {"context_length": 4096},
    }
    doc.update(changes)
    return doc


def default_author(document: dict[str, Any] | None) -> User:
    """An editor, or an admin when ``document`` has ``runtime.launch`` (which only admins may set)."""
    launches = isinstance(document, dict) and "launch" in (document.get("runtime") or {})
    return user_with_role("admin" if launches else "editor")


def draft_revision(author: User | None = None, document: dict[str, Any] | None = None) -> AssetRevision:
    """A draft by ``author`` (:func:`default_author` if None) of a new asset or of ``document``'s asset."""
    author = author or default_author(document)
    revision, _ = do_create_draft(document or asset_document(), actor=actor(author))
    return revision


def submitted_revision(
    author: User | None = None, submitter: User | None = None, document: dict[str, Any] | None = None
) -> AssetRevision:
    """A revision awaiting approval, written by ``author`` and submitted by ``submitter`` (default: the author)."""
    author = author or default_author(document)
    revision = draft_revision(author, document)
    return do_submit_revision(revision, actor=actor(submitter or author))


def live_asset(document: dict[str, Any] | None = None) -> Asset:
    """An asset whose revision 1 is approved and live (written and approved by two different users)."""
    revision = submitted_revision(document=document)
    do_approve_revision(revision, actor=actor(user_with_role("approver")), digest=revision.digest)
    return Asset.objects.get(pk=revision.asset_id)
