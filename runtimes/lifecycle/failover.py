"""Host failure: a host whose heartbeat went stale loses its runtimes, and what can move, moves.

Run by beat's reconcile pass (``reconcile_all``). For each stale host: every runtime placed
there (starting, running, stopping) becomes ``unreachable`` with the reason; then each
``unreachable`` asset that is not pinned (``runtime.host``) and is ``desired: running`` is
placed on another live host with room (evicting idle models there if it must) and started.
On-demand ones stay ``unreachable`` until a request wakes them (placed afresh then); pinned
ones wait for their host. When a host heartbeats again, its own reconcile stops what it left
(``unreachable`` → ``stopping``) and the lifecycle goes on from there.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from runtimes.hosts import registry
from runtimes.lifecycle import capacity, dispatch
from runtimes.lifecycle.errors import InvalidTransition, NoCapacity
from runtimes.lifecycle.policy import policy_for
from runtimes.lifecycle.transitions import transition
from runtimes.models import Host, ObservedState, RuntimeState

log = logging.getLogger(__name__)
S = ObservedState


def sweep() -> set[str]:
    """Mark the runtimes of stale hosts unreachable and move what may move; returns the names
    of the stale hosts (nobody consumes their queues)."""
    stale = list(registry.stale_hosts())
    now = timezone.now()
    for host in stale:
        if host.unreachable_since is None:
            Host.objects.filter(pk=host.pk, unreachable_since__isnull=True).update(unreachable_since=now)
            log.warning(
                "host %s is unreachable: no heartbeat for %.0fs", host.name, registry.heartbeat_age_s(host)
            )
        _mark_unreachable(host)
    lost = {h.name for h in stale}
    for rs in RuntimeState.objects.filter(state=S.UNREACHABLE).select_related("asset"):
        if rs.host in lost:
            _replace(rs)
    return lost


def _mark_unreachable(host: Host) -> None:
    age = registry.heartbeat_age_s(host)
    reason = f"host {host.name} unreachable: no heartbeat for {age:.0f}s"
    for rs in RuntimeState.objects.filter(host=host.name, state__in=registry.PLACED_STATES).select_related(
        "asset"
    ):
        try:
            transition(rs, S.UNREACHABLE, reason=reason, next_retry_at=None)
        except InvalidTransition:
            continue  # it moved meanwhile: the next pass looks again


def _replace(rs: RuntimeState) -> None:
    """Start an unpinned ``desired: running`` asset of a lost host on another host."""
    asset = rs.asset
    policy = policy_for(asset)
    if not policy.runnable or not policy.launched or policy.host or policy.desired != "running":
        return
    try:
        # A new host, and no process or URL of the lost one (placement's fields).
        capacity.start_placed(
            asset, policy, rs, reason=f"re-placed: host {rs.host} unreachable", next_retry_at=None
        )
        dispatch.reconcile_on_commit(asset)
    except NoCapacity as exc:
        RuntimeState.objects.filter(pk=rs.pk).update(reason=f"host {rs.host} unreachable; {exc}"[:300])
    except InvalidTransition:
        return
