"""The reconcile: the only code that starts or stops a runtime.

Level-triggered: it looks at the live spec and the observed state and takes the next step,
as often as needed, under the asset's advisory lock (two workers never work on one asset at
once, and nothing is started twice). Beat's pass (``reconcile_all``) fans out one task per
asset that is live or has something running.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db.models import Q

from models_admin.models import Asset
from runtimes import leases
from runtimes.hosts import registry
from runtimes.lifecycle import capacity, clock, config, dispatch, failover, outcomes, pickup, runner
from runtimes.lifecycle.errors import InvalidTransition, NoCapacity
from runtimes.lifecycle.health import observe_external
from runtimes.lifecycle.locks import asset_lock
from runtimes.lifecycle.policy import Policy, policy_for
from runtimes.lifecycle.transitions import asset_by_id, state_of, transition
from runtimes.models import ObservedState, RuntimeState

log = logging.getLogger(__name__)
S = ObservedState
MAX_STEPS = 8
EVICTION_POLL_S = 0.05


def reconcile(asset_id: str | int) -> str | None:
    """Take the steps that bring the observed state to what the live spec asks.

    Level-triggered and idempotent; safe to run concurrently anywhere: a run that
    cannot take the asset's lock returns at once (the holder converges it). Returns
    the observed state afterwards (None for an unknown asset).
    """
    asset = asset_by_id(asset_id)
    if asset is None:
        return None
    policy = policy_for(asset)
    rs = state_of(asset)
    if not dispatch.is_local(asset):
        dispatch.reconcile_on_commit(asset)  # a launched process: its own host does the work
        return rs.state
    if policy.runnable and not policy.managed:
        observe_external(asset, policy, rs)
        rs.refresh_from_db()
        return rs.state
    with asset_lock(asset.pk) as held:
        if not held:
            return rs.state
        for _ in range(MAX_STEPS):
            rs.refresh_from_db()
            try:
                if not _step(asset, policy, rs):
                    break
            except InvalidTransition as exc:
                log.info("reconcile %s: %s; looking again", asset.asset_id, exc)
        seen = rs.generation
    rs.refresh_from_db()
    if rs.generation != seen:
        # Moved (e.g. a sleep) after our last look but while we held the lock: its own
        # reconcile found the lock taken and returned, so converge it now rather than at
        # beat's next pass.
        dispatch.reconcile_on_commit(asset)
    return rs.state


def reconcile_all() -> int:
    """Enqueue a reconcile for every asset that is live or has something running.

    First fails the starts no live worker can pick up (``runtimes.lifecycle.pickup``), and
    marks the assets of hosts that stopped heartbeating ``unreachable``, moving the unpinned
    ``desired: running`` ones to a host with room (``runtimes.lifecycle.failover``).
    """
    for asset_id, reason in pickup.unpicked_starts():
        log.warning("%s: %s", asset_id, reason)
        outcomes.give_up(asset_id, reason)
    lost = failover.sweep()
    count = 0
    for asset in watched_assets():
        if dispatch.target_host(asset) in lost:
            continue  # nobody consumes a lost host's queue: failover handles its assets
        dispatch.reconcile_on_commit(asset)
        count += 1
    return count


def check_health_all() -> int:
    """Enqueue a health check for every asset that is live or has something running."""
    lost = {h.name for h in registry.stale_hosts()}
    count = 0
    for asset in watched_assets():
        if dispatch.target_host(asset) in lost:
            continue  # nobody consumes a lost host's queue
        dispatch.health_on_commit(asset)
        count += 1
    return count


def watched_assets() -> list[Asset]:
    quiet = [S.STOPPED, S.SLEEPING, S.FAILED]
    candidates = (
        Asset.objects.filter(
            Q(live_spec__isnull=False) | (Q(runtime_state__isnull=False) & ~Q(runtime_state__state__in=quiet))
        )
        .select_related("runtime_state")
        .distinct()
    )
    return [asset for asset in candidates if not _at_rest(asset)]


def _at_rest(asset: Asset) -> bool:
    """Stopped and meant to stay stopped: nothing to reconcile or probe (no message to a host
    queue that may have no worker, no probe of an external API nobody asked for)."""
    if policy_for(asset).desired != "stopped":
        return False
    try:
        rs = asset.runtime_state
    except RuntimeState.DoesNotExist:
        return True
    return rs.state == S.STOPPED and not rs.process


def _step(asset: Asset, policy: Policy, rs: RuntimeState) -> bool:
    """Take one step towards the desired state; True if something changed."""
    state = rs.state
    if state == S.STOPPING:
        outcomes.finish_stop(asset, policy, rs)
        return True
    desired = policy.desired if policy.runnable else "stopped"
    why = policy.why_not if not policy.runnable else f"desired {desired}"
    if desired == "stopped":
        if state in (S.STARTING, S.RUNNING, S.SLEEPING, S.FAILED, S.UNREACHABLE) and (
            state != S.FAILED or runner.handle_from(rs.process) is not None
        ):
            transition(rs, S.STOPPING, reason=why)
            return True
        return False
    if state == S.FAILED:
        return False
    if state == S.UNREACHABLE:  # this worker is its host: the host is back, stop what it left
        transition(rs, S.STOPPING, reason=f"host {rs.host or config.host_name()} is back; restarting cleanly")
        return True
    if state == S.STARTING:
        if not dispatch.is_local(asset):  # placed on another host: that host starts it
            dispatch.reconcile_on_commit(asset)
            return False
        if capacity.stops_pending(rs):  # an eviction on this host is still freeing its room
            dispatch.reconcile_on_commit(asset, countdown=EVICTION_POLL_S)
            return False
        if rs.next_retry_at is not None and rs.next_retry_at > clock.now():
            wait = (rs.next_retry_at - clock.now()).total_seconds()
            dispatch.reconcile_on_commit(asset, countdown=max(0.05, wait))
            return False
        outcomes.start(asset, policy, rs)
        return True
    if state == S.RUNNING:
        if policy.launched and not runner.is_alive(runner.handle_from(rs.process)):
            outcomes.crashed(asset, policy, rs, "process exited")
            return True
        if desired == "on-demand" and _idle(asset, policy, rs):
            transition(rs, S.STOPPING, reason=f"idle for {policy.auto_sleep_min} min")
            return True
        return False
    if desired == "running":  # stopped or sleeping
        return _start_desired(asset, policy, rs)
    return False


def _start_desired(asset: Asset, policy: Policy, rs: RuntimeState) -> bool:
    """``desired: running`` and down: place it and move to ``starting``; with no room, say why
    in its reason and try again on the next pass."""
    try:
        capacity.start_placed(asset, policy, rs, reason="desired running")
    except NoCapacity as exc:
        log.warning("%s", exc)
        RuntimeState.objects.filter(pk=rs.pk).update(reason=f"waiting for room: {exc}"[:300])
        return False
    return True


def _idle(asset: Asset, policy: Policy, rs: RuntimeState) -> bool:
    if policy.auto_sleep_min <= 0:
        return False
    marks = [t for t in (rs.last_request_at, rs.ready_at) if t is not None]
    if not marks:
        return False
    if clock.now() - max(marks) < timedelta(minutes=policy.auto_sleep_min):
        return False
    # A held lease is a request in flight (possibly a long stream): never sleep under it.
    return leases.active_counts([asset.asset_id]).get(asset.asset_id, 0) == 0
