"""Compare-and-set transitions of ``RuntimeState``, each with its ``LifecycleEvent`` row."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When

from models_admin.audit import Actor
from models_admin.models import Asset
from runtimes.lifecycle import clock
from runtimes.lifecycle.errors import InvalidTransition
from runtimes.models import Health, LifecycleEvent, ObservedState, RuntimeState, is_allowed

log = logging.getLogger(__name__)


def state_of(asset: Asset) -> RuntimeState:
    """The asset's runtime state row, created (``stopped``) on first use. Race-safe."""
    try:
        return RuntimeState.objects.get(asset=asset)
    except RuntimeState.DoesNotExist:
        pass
    try:
        with transaction.atomic():
            return RuntimeState.objects.create(asset=asset)
    except IntegrityError:  # another worker created it first (the unique constraint)
        return RuntimeState.objects.get(asset=asset)


def _health_leaving_running(to: str) -> Any:
    """The health a move out of ``running`` leaves: a ``failed`` runtime is down, and no other
    state keeps an "ok" or "busy" that was observed while it ran (a recorded "down" stays)."""
    if to == ObservedState.FAILED:
        return Value(Health.DOWN)
    return Case(When(health__in=[Health.OK, Health.BUSY], then=Value(Health.UNKNOWN)), default=F("health"))


def transition(
    rs: RuntimeState,
    to: str,
    *,
    reason: str,
    actor: Actor | None = None,
    load_duration_ms: int | None = None,
    detail: str = "",
    **fields: Any,
) -> RuntimeState:
    """Move ``rs`` from its current (state, generation) to ``to``, setting ``fields``.

    One ``UPDATE … WHERE state = old AND generation = g``: if the move is not in the
    table, or someone else moved the row first, raises ``InvalidTransition`` and
    changes nothing. Writes the event row in the same transaction. Returns the
    refreshed row.
    """
    old = rs.state
    if not is_allowed(old, to):
        raise InvalidTransition(f"{rs.asset.asset_id}: cannot go from {old} to {to}")
    actor = actor or Actor.system()
    if to != ObservedState.RUNNING and "health" not in fields:
        fields["health"] = _health_leaving_running(to)
    with transaction.atomic():
        changed = RuntimeState.objects.filter(pk=rs.pk, state=old, generation=rs.generation).update(
            state=to, generation=rs.generation + 1, reason=reason[:300], updated_at=clock.now(), **fields
        )
        if changed != 1:
            raise InvalidTransition(f"{rs.asset.asset_id}: state changed meanwhile (was {old})")
        LifecycleEvent.objects.create(
            asset_id=rs.asset_id,
            at=clock.now(),
            from_state=old,
            to_state=to,
            reason=reason[:300],
            actor_label=actor.label,
            actor_user=actor.user,  # type: ignore[misc]
            source=actor.source,
            generation=rs.generation + 1,
            load_duration_ms=load_duration_ms,
            detail=detail,
        )
    why = f": {detail.strip().splitlines()[0][:200]}" if detail.strip() else ""
    log.info("%s: %s -> %s (%s)%s", rs.asset.asset_id, old, to, reason, why)
    rs.refresh_from_db()
    return rs


def asset_by_id(asset_id: str | int) -> Asset | None:
    """The asset by its slug (str) or primary key (int); None if there is none."""
    field = "pk" if isinstance(asset_id, int) else "asset_id"
    return Asset.objects.filter(**{field: asset_id}).first()
