"""Leases taken through the API: each belongs to its taker, and only it or an admin may end it.

The owner is the caller's API token (``token:<id>``), or its user for a session
(``user:<id>``). Renewing or releasing someone else's lease raises
:class:`~runtimes.leases.NotLeaseOwner` (the API answers 403), unless the actor may
``admin``: an admin's browser session, the hub itself, or ``manage.py``. No token scope
grants ``admin``, so through a token only the token that took a lease can end it early.
The gateway's own leases (taken in-process, with no owner) are released by the gateway.
"""

from __future__ import annotations

from models_admin.audit import Actor
from models_admin.roles import actor_may
from runtimes import leases


def lease_owner(actor: Actor) -> str:
    """Who a lease taken by ``actor`` belongs to."""
    if actor.token is not None:
        return f"token:{actor.token.pk}"
    if actor.user is not None:
        return f"user:{actor.user.pk}"
    return "system"


def _owner_to_check(actor: Actor) -> str | None:
    return None if actor_may(actor, "admin") else lease_owner(actor)


def do_acquire_lease(
    asset_id: str, max_concurrency: int, ttl_s: float, *, actor: Actor
) -> leases.Lease | leases.LeaseRefused:
    """Take one of ``asset_id``'s slots for ``actor`` (or say how long to wait)."""
    return leases.try_acquire(asset_id, max_concurrency, ttl_s, owner=lease_owner(actor))


def do_renew_lease(lease_id: str, ttl_s: float, *, actor: Actor) -> leases.Lease | None:
    """Extend ``actor``'s live lease (any, for an admin); None if it is gone. Raises NotLeaseOwner."""
    return leases.renew_lease(lease_id, ttl_s, owner=_owner_to_check(actor))


def do_release_lease(lease_id: str, *, actor: Actor) -> bool:
    """Free ``actor``'s lease (any, for an admin); False if already gone. Raises NotLeaseOwner."""
    return leases.release(lease_id, owner=_owner_to_check(actor))
