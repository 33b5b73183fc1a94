"""Health probes: record ok / busy / down; a launched process found gone is a crash."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from models_admin.models import Asset
from runtimes.lifecycle import clock, config, dispatch, outcomes, runner
from runtimes.lifecycle.errors import InvalidTransition
from runtimes.lifecycle.locks import asset_lock
from runtimes.lifecycle.policy import Policy, policy_for
from runtimes.lifecycle.transitions import asset_by_id, state_of, transition
from runtimes.models import ObservedState, RuntimeState
from runtimes.protocols import HealthReport, HealthState

S = ObservedState


def check_health(asset_id: str | int) -> str | None:
    """Probe a running (or external) runtime; record ok / busy / down with its detail.

    A launched process found gone counts as a crash (restart with backoff, or
    ``failed`` after the cap). Returns the health recorded (None if nothing probed).
    """
    asset = asset_by_id(asset_id)
    if asset is None:
        return None
    policy = policy_for(asset)
    if not policy.runnable or policy.binding is None:
        return None
    rs = state_of(asset)
    if not policy.managed:
        return observe_external(asset, policy, rs)
    if rs.state != S.RUNNING or not dispatch.is_local(asset):
        return None
    with asset_lock(asset.pk) as held:
        if not held:
            return None
        rs.refresh_from_db()
        if rs.state != S.RUNNING:
            return None
        handle = runner.handle_from(rs.process)
        report = runner.probe_health(policy.binding, asset.asset_id, handle)
        record_health(rs, report)
        if policy.launched and not runner.is_alive(handle):
            with contextlib.suppress(InvalidTransition):
                outcomes.crashed(asset, policy, rs, f"process gone: {report.detail}")
        elif (
            report.state is not HealthState.DOWN
            and rs.consecutive_failures
            and rs.ready_at is not None
            and clock.now() - rs.ready_at >= timedelta(seconds=config.stable_after_s())
        ):
            RuntimeState.objects.filter(pk=rs.pk).update(consecutive_failures=0)
        return report.state.value


def record_health(rs: RuntimeState, report: HealthReport) -> None:
    # Only onto the state it was observed in: a transition meanwhile (a sleep, a crash) wins.
    RuntimeState.objects.filter(pk=rs.pk, generation=rs.generation).update(
        health=report.state.value, health_detail=report.detail[:500], health_checked_at=clock.now()
    )


def observe_external(asset: Asset, policy: Policy, rs: RuntimeState) -> str:
    """External runtimes have no lifecycle: their observed state follows their health."""
    assert policy.binding is not None
    report = runner.probe_health(policy.binding, asset.asset_id, None)
    record_health(rs, report)
    with contextlib.suppress(InvalidTransition):
        if report.serving and rs.state != S.RUNNING:
            if rs.state != S.STOPPED:
                rs = transition(rs, S.STOPPING, reason="external runtime: not managed")
                rs = transition(rs, S.STOPPED, reason="external runtime: not managed")
            transition(
                rs, S.RUNNING, reason="external runtime answers", base_url=policy.binding.base_url or ""
            )
        elif not report.serving and rs.state == S.RUNNING:
            transition(rs, S.STOPPED, reason=f"external runtime down: {report.detail}"[:300])
    return report.state.value
