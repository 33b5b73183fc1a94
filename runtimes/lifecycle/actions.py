"""Operator actions on an asset's runtime: one ``do_<verb>_asset(asset, *, actor)`` per mutation.

Each only moves the observed state with a compare-and-set, writes its audit row (when a
person or a token asked) in the same transaction, and enqueues a reconcile after commit;
the slow work (spawn, wait for ready, stop) happens in ``reconcile``, under the asset's
advisory lock, so two workers never work on one asset at once and nothing starts twice.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from models_admin import audit
from models_admin.audit import Actor
from models_admin.models import Asset, AuditSource
from runtimes.lifecycle import capacity, clock, dispatch
from runtimes.lifecycle.errors import InvalidTransition, NotRunnable
from runtimes.lifecycle.policy import Policy, policy_for, wake_refusal
from runtimes.lifecycle.transitions import asset_by_id, state_of, transition
from runtimes.models import ObservedState, RuntimeState

S = ObservedState


def _by_user(actor: Actor) -> bool:
    return actor.user is not None or actor.source != AuditSource.SYSTEM


def _audited(action: str, asset: Asset, actor: Actor, before: str, after: RuntimeState) -> None:
    if _by_user(actor):
        audit.record(
            action,
            actor=actor,
            object_type="asset",
            object_id=asset.asset_id,
            before={"state": before},
            after={"state": after.state},
            detail=after.reason,
        )


def _managed_policy(asset: Asset) -> Policy:
    policy = policy_for(asset)
    if not policy.runnable:
        raise NotRunnable(f"{asset.asset_id}: {policy.why_not}")
    return policy


def _operable(asset: Asset, *, external: str, unless: str, hint: str = "") -> tuple[Policy, RuntimeState]:
    """The policy and state of an asset an operator may act on. ``InvalidTransition`` when its
    runtime is external ("an external runtime <external>") or its desired state is ``unless``
    ("its desired state is <unless><hint>")."""
    policy = _managed_policy(asset)
    rs = state_of(asset)
    if not policy.managed:
        raise InvalidTransition(f"{asset.asset_id}: an external runtime {external}")
    if policy.desired == unless:
        raise InvalidTransition(f"{asset.asset_id}: its desired state is {unless}{hint}")
    return policy, rs


def _begin_start(
    asset: Asset,
    policy: Policy,
    rs: RuntimeState,
    *,
    reason: str,
    actor: Actor,
    action: str,
    reset: bool = False,
) -> RuntimeState:
    """Place it (evicting idle models if it must), move to ``starting`` (audited when a user
    asked) and reconcile after commit. Raises ``NoCapacity`` when no host can take it."""
    before = rs.state
    extra: dict[str, Any] = {"started_at": clock.now(), "ready_at": None, "next_retry_at": None}
    if reset:
        extra["consecutive_failures"] = 0
    with transaction.atomic():
        placement = capacity.place(asset, policy, rs)
        rs = transition(
            rs, S.STARTING, reason=reason, actor=actor, detail=placement.detail, **extra, **placement.fields
        )
        _audited(action, asset, actor, before, rs)
        dispatch.reconcile_on_commit(asset)
    return rs


def do_wake_asset(asset: Asset, *, actor: Actor) -> RuntimeState:
    """Start (or load) the asset's runtime if it is not up; returns the state at once.

    Joins a wake already in flight (``starting`` is returned, nothing enqueued twice).
    Idempotent. External runtimes have no lifecycle: their state is returned as is.
    Raises ``NotRunnable`` (no live spec / retired / no runtime) or
    ``InvalidTransition`` (desired ``stopped``, or ``failed`` until an operator retries), or
    ``NoCapacity`` (503: no live host has room, even after evicting idle models).
    """
    policy = _managed_policy(asset)
    rs = state_of(asset)
    if not policy.managed:
        return rs
    if policy.desired == "stopped":
        raise InvalidTransition(f"{asset.asset_id}: {wake_refusal(policy, rs.state)}")
    for _ in range(3):
        if rs.state in (S.STARTING, S.RUNNING, S.STOPPING):
            return rs
        if rs.state == S.FAILED:
            raise InvalidTransition(
                f"{asset.asset_id}: failed ({rs.last_error or rs.reason}); an operator must retry"
            )
        try:
            return _begin_start(asset, policy, rs, reason="wake", actor=actor, action="asset.wake")
        except InvalidTransition:
            rs.refresh_from_db()  # lost to a concurrent wake: join it
    return rs


def do_sleep_asset(asset: Asset, *, actor: Actor, reason: str = "sleep") -> RuntimeState:
    """Put a running (or starting) on-demand runtime to sleep; no-op if already down.

    Raises ``InvalidTransition`` when the desired state is ``running`` (the reconcile
    would start it again at once) or the asset is ``failed``.
    """
    _, rs = _operable(
        asset, external="cannot be put to sleep", unless="running", hint="; change the lifecycle"
    )
    if rs.state in (S.STOPPED, S.SLEEPING, S.STOPPING):
        return rs
    if rs.state == S.FAILED:
        raise InvalidTransition(f"{asset.asset_id}: failed; retry or stop it instead")
    before = rs.state
    with transaction.atomic():
        rs = transition(rs, S.STOPPING, reason=reason, actor=actor)
        _audited("asset.sleep", asset, actor, before, rs)
        dispatch.reconcile_on_commit(asset)
    return rs


def do_restart_asset(asset: Asset, *, actor: Actor) -> RuntimeState:
    """Stop the runtime's process (if any) and start it again; resets the failure count.

    A restart already in flight is joined. Raises ``InvalidTransition`` when the desired
    state is ``stopped`` or the runtime is being stopped.
    """
    policy, rs = _operable(asset, external="cannot be restarted by the hub", unless="stopped")
    if rs.state == S.STARTING:
        return rs
    return _begin_start(asset, policy, rs, reason="restart", actor=actor, action="asset.restart", reset=True)


def do_retry_asset(asset: Asset, *, actor: Actor) -> RuntimeState:
    """An operator's retry of a ``failed`` asset: start again with a fresh failure count."""
    policy = _managed_policy(asset)
    rs = state_of(asset)
    if rs.state != S.FAILED:
        raise InvalidTransition(f"{asset.asset_id}: only a failed runtime can be retried (it is {rs.state})")
    if not policy.managed:
        raise InvalidTransition(f"{asset.asset_id}: an external runtime has nothing to retry")
    return _begin_start(
        asset, policy, rs, reason="operator retry", actor=actor, action="asset.retry", reset=True
    )


def request_stop(asset_id: str | int) -> None:
    """Have the runtime stopped once the caller's transaction commits (e.g. on retire).

    The reconcile stops whatever runs for an asset that is no longer runnable.
    """
    asset = asset_by_id(asset_id)
    if asset is not None:
        dispatch.reconcile_on_commit(asset)
