"""Lifecycle services: the only code that starts or stops a runtime.

User actions (``do_wake_asset``, ``do_sleep_asset``, ``do_restart_asset``,
``do_retry_asset``) only move the observed state with a compare-and-set and enqueue a
reconcile after commit; the slow work (spawn, wait for ready, stop) happens in
``reconcile``, under the asset's advisory lock, so two workers never work on one
asset at once and nothing is started twice. ``reconcile`` is level-triggered: it looks
at the live spec and the observed state and takes the next step, as often as needed.
"""

from __future__ import annotations

import contextlib
import logging
import math
import statistics
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from redis import Redis

from models_admin import audit
from models_admin.audit import Actor
from models_admin.models import Asset, AuditSource
from runtimes import leases
from runtimes.errors import SpawnFailed
from runtimes.launcher import ProcessHandle
from runtimes.lifecycle import clock, config, dispatch, pickup, runner
from runtimes.lifecycle.errors import InvalidTransition, NotRunnable
from runtimes.lifecycle.locks import asset_lock
from runtimes.lifecycle.policy import Policy, policy_for, wake_refusal
from runtimes.lifecycle.transitions import state_of, transition
from runtimes.models import Health, LifecycleEvent, ObservedState, RuntimeState
from runtimes.protocols import HealthReport, HealthState

log = logging.getLogger(__name__)
S = ObservedState
MAX_STEPS = 8
DELIVERIES_KEY = "hub:lifecycle:deliveries:"


def _asset(asset_id: str | int) -> Asset | None:
    field = "pk" if isinstance(asset_id, int) else "asset_id"
    return Asset.objects.filter(**{field: asset_id}).first()


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


def _begin_start(
    asset: Asset, rs: RuntimeState, *, reason: str, actor: Actor, action: str, reset: bool = False
) -> RuntimeState:
    """Move to ``starting`` (audited when a user asked) and reconcile after commit."""
    before = rs.state
    extra: dict[str, Any] = {"started_at": clock.now(), "ready_at": None, "next_retry_at": None}
    if reset:
        extra["consecutive_failures"] = 0
    with transaction.atomic():
        rs = transition(rs, S.STARTING, reason=reason, actor=actor, **extra)
        _audited(action, asset, actor, before, rs)
        dispatch.reconcile_on_commit(asset)
    return rs


def do_wake_asset(asset: Asset, *, actor: Actor) -> RuntimeState:
    """Start (or load) the asset's runtime if it is not up; returns the state at once.

    Joins a wake already in flight (``starting`` is returned, nothing enqueued twice).
    Idempotent. External runtimes have no lifecycle: their state is returned as is.
    Raises ``NotRunnable`` (no live spec / retired / no runtime) or
    ``InvalidTransition`` (desired ``stopped``, or ``failed`` until an operator retries).
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
            return _begin_start(asset, rs, reason="wake", actor=actor, action="asset.wake")
        except InvalidTransition:
            rs.refresh_from_db()  # lost to a concurrent wake: join it
    return rs


def do_sleep_asset(asset: Asset, *, actor: Actor) -> RuntimeState:
    """Put a running (or starting) on-demand runtime to sleep; no-op if already down.

    Raises ``InvalidTransition`` when the desired state is ``running`` (the reconcile
    would start it again at once) or the asset is ``failed``.
    """
    policy = _managed_policy(asset)
    rs = state_of(asset)
    if not policy.managed:
        raise InvalidTransition(f"{asset.asset_id}: an external runtime cannot be put to sleep")
    if policy.desired == "running":
        raise InvalidTransition(f"{asset.asset_id}: its desired state is running; change the lifecycle")
    if rs.state in (S.STOPPED, S.SLEEPING, S.STOPPING):
        return rs
    if rs.state == S.FAILED:
        raise InvalidTransition(f"{asset.asset_id}: failed; retry or stop it instead")
    before = rs.state
    with transaction.atomic():
        rs = transition(rs, S.STOPPING, reason="sleep", actor=actor)
        _audited("asset.sleep", asset, actor, before, rs)
        dispatch.reconcile_on_commit(asset)
    return rs


def do_restart_asset(asset: Asset, *, actor: Actor) -> RuntimeState:
    """Stop the runtime's process (if any) and start it again; resets the failure count.

    A restart already in flight is joined. Raises ``InvalidTransition`` when the desired
    state is ``stopped`` or the runtime is being stopped.
    """
    policy = _managed_policy(asset)
    rs = state_of(asset)
    if not policy.managed:
        raise InvalidTransition(f"{asset.asset_id}: an external runtime cannot be restarted by the hub")
    if policy.desired == "stopped":
        raise InvalidTransition(f"{asset.asset_id}: its desired state is stopped")
    if rs.state == S.STARTING:
        return rs
    return _begin_start(asset, rs, reason="restart", actor=actor, action="asset.restart", reset=True)


def do_retry_asset(asset: Asset, *, actor: Actor) -> RuntimeState:
    """An operator's retry of a ``failed`` asset: start again with a fresh failure count."""
    policy = _managed_policy(asset)
    rs = state_of(asset)
    if rs.state != S.FAILED:
        raise InvalidTransition(f"{asset.asset_id}: only a failed runtime can be retried (it is {rs.state})")
    if not policy.managed:
        raise InvalidTransition(f"{asset.asset_id}: an external runtime has nothing to retry")
    return _begin_start(asset, rs, reason="operator retry", actor=actor, action="asset.retry", reset=True)


def request_stop(asset_id: str | int) -> None:
    """Have the runtime stopped once the caller's transaction commits (e.g. on retire).

    The reconcile stops whatever runs for an asset that is no longer runnable.
    """
    asset = _asset(asset_id)
    if asset is not None:
        dispatch.reconcile_on_commit(asset)


def mark_request_finished(asset_id: str | int) -> None:
    """Note the end of a request: idle time (auto-sleep) counts from the last one.

    One cheap UPDATE, skipped when the stored time is under a second old.
    """
    now = clock.now()
    field = "asset_id" if isinstance(asset_id, int) else "asset__asset_id"
    RuntimeState.objects.filter(**{field: asset_id}).filter(
        Q(last_request_at__isnull=True) | Q(last_request_at__lt=now - timedelta(seconds=1))
    ).update(last_request_at=now)


def retry_after_estimate(asset: Asset) -> int:
    """Seconds until a wake of ``asset`` is likely ready (for ``Retry-After``), at least 1.

    The median of the last five load durations (a default if it never started), less
    the time the current start has already run, plus any backoff still to wait.
    """
    durations = [
        ms
        for ms in LifecycleEvent.objects.filter(asset=asset, load_duration_ms__isnull=False)
        .order_by("-at")
        .values_list("load_duration_ms", flat=True)[:5]
        if ms is not None
    ]
    estimate = statistics.median(durations) / 1000 if durations else float(config.default_load_estimate_s())
    rs = RuntimeState.objects.filter(asset=asset).first()
    now = clock.now()
    if rs is not None and rs.state == S.STARTING:
        if rs.next_retry_at is not None and rs.next_retry_at > now:
            estimate += (rs.next_retry_at - now).total_seconds()
        elif rs.started_at is not None:
            estimate -= (now - rs.started_at).total_seconds()
    return max(1, math.ceil(estimate))


def reconcile(asset_id: str | int) -> str | None:
    """Take the steps that bring the observed state to what the live spec asks.

    Level-triggered and idempotent; safe to run concurrently anywhere: a run that
    cannot take the asset's lock returns at once (the holder converges it). Returns
    the observed state afterwards (None for an unknown asset).
    """
    asset = _asset(asset_id)
    if asset is None:
        return None
    policy = policy_for(asset)
    rs = state_of(asset)
    if not dispatch.is_local(asset):
        dispatch.reconcile_on_commit(asset)  # a launched process: its own host does the work
        return rs.state
    if policy.runnable and not policy.managed:
        _observe_external(asset, policy, rs)
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
        rs.refresh_from_db()
        return rs.state


def reconcile_all() -> int:
    """Enqueue a reconcile for every asset that is live or has something running.

    First fails the starts no live worker can pick up (``runtimes.lifecycle.pickup``).
    """
    for asset_id, reason in pickup.unpicked_starts():
        log.warning("%s: %s", asset_id, reason)
        give_up(asset_id, reason)
    count = 0
    for asset in _watched_assets():
        dispatch.reconcile_on_commit(asset)
        count += 1
    return count


def check_health(asset_id: str | int) -> str | None:
    """Probe a running (or external) runtime; record ok / busy / down with its detail.

    A launched process found gone counts as a crash (restart with backoff, or
    ``failed`` after the cap). Returns the health recorded (None if nothing probed).
    """
    asset = _asset(asset_id)
    if asset is None:
        return None
    policy = policy_for(asset)
    if not policy.runnable or policy.binding is None:
        return None
    rs = state_of(asset)
    if not policy.managed:
        return _observe_external(asset, policy, rs)
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
        _record_health(rs, report)
        if policy.launched and not runner.is_alive(handle):
            with contextlib.suppress(InvalidTransition):
                _crashed(asset, policy, rs, f"process gone: {report.detail}")
        elif (
            report.state is not HealthState.DOWN
            and rs.consecutive_failures
            and rs.ready_at is not None
            and clock.now() - rs.ready_at >= timedelta(seconds=config.stable_after_s())
        ):
            RuntimeState.objects.filter(pk=rs.pk).update(consecutive_failures=0)
        return report.state.value


def check_health_all() -> int:
    count = 0
    for asset in _watched_assets():
        dispatch.health_on_commit(asset)
        count += 1
    return count


def begin_delivery(task_id: str, asset_id: str) -> bool:
    """Count one delivery of a lifecycle task; False (and the asset ``failed``) past the limit.

    With late acks a task whose worker dies is delivered again; one that kills its
    worker every time (e.g. a runtime that takes the machine's memory) would loop
    forever. Call ``end_delivery`` when the task returns or raises.
    """
    with Redis.from_url(settings.REDIS_URL) as client:
        key = DELIVERIES_KEY + task_id
        count = int(client.incr(key))
        client.expire(key, 86400)
    limit = config.task_max_deliveries()
    if count <= limit:
        return True
    give_up(asset_id, f"its lifecycle task killed the worker {count - 1} times")
    end_delivery(task_id)
    return False


def end_delivery(task_id: str) -> None:
    with Redis.from_url(settings.REDIS_URL) as client:
        client.delete(DELIVERIES_KEY + task_id)


def give_up(asset_id: str | int, reason: str) -> None:
    """Mark the asset ``failed`` with ``reason`` and stop any process left for it."""
    asset = _asset(asset_id)
    if asset is None:
        return
    policy = policy_for(asset)
    with asset_lock(asset.pk) as held:
        rs = state_of(asset)
        if held and policy.launched:
            runner.stop_process(runner.orphan_for(asset.asset_id, None))
        if rs.state in (S.STARTING, S.RUNNING, S.STOPPING):
            with contextlib.suppress(InvalidTransition):
                transition(rs, S.FAILED, reason=reason[:300], last_error=reason, next_retry_at=None)


def _watched_assets() -> list[Asset]:
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
        _finish_stop(asset, policy, rs)
        return True
    desired = policy.desired if policy.runnable else "stopped"
    why = policy.why_not if not policy.runnable else f"desired {desired}"
    if desired == "stopped":
        if state in (S.STARTING, S.RUNNING, S.SLEEPING, S.FAILED) and (
            state != S.FAILED or runner.handle_from(rs.process) is not None
        ):
            transition(rs, S.STOPPING, reason=why)
            return True
        return False
    if state == S.FAILED:
        return False
    if state == S.STARTING:
        if rs.next_retry_at is not None and rs.next_retry_at > clock.now():
            wait = (rs.next_retry_at - clock.now()).total_seconds()
            dispatch.reconcile_on_commit(asset, countdown=max(0.05, wait))
            return False
        _start(asset, policy, rs)
        return True
    if state == S.RUNNING:
        if policy.launched and not runner.is_alive(runner.handle_from(rs.process)):
            _crashed(asset, policy, rs, "process exited")
            return True
        if desired == "on-demand" and _idle(asset, policy, rs):
            transition(rs, S.STOPPING, reason=f"idle for {policy.auto_sleep_min} min")
            return True
        return False
    if desired == "running":  # stopped or sleeping
        transition(rs, S.STARTING, reason="desired running", started_at=clock.now(), ready_at=None)
        return True
    return False


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


ASLEEP = "asleep"  # in RuntimeState.process: the process sleeps in place (vLLM sleep mode)


def _start(asset: Asset, policy: Policy, rs: RuntimeState) -> None:
    """Start the runtime (we hold the asset lock and the state is ``starting``)."""
    assert policy.binding is not None
    key = asset.asset_id
    previous = runner.handle_from(rs.process)
    adopt: ProcessHandle | None = None
    if policy.launched:
        # What a worker killed mid-start left behind is adopted, not started twice.
        adopt = runner.orphan_for(key, previous)
        if (rs.process or {}).get(ASLEEP) and runner.is_alive(previous):
            adopt = previous  # asleep in place: woken, not started again
        elif runner.is_alive(previous):
            runner.stop_process(previous)  # a restart: the old process goes first
    adapter, managed = runner.make_runtime(policy.binding, key, adopt)
    if managed is None:
        return
    began = time.monotonic()
    try:
        target = managed.ensure_running()
    except Exception as exc:  # any failure to start is a failed attempt, with its reason
        if policy.launched:
            with contextlib.suppress(Exception):
                managed.stop()
        if isinstance(exc, SpawnFailed) and not exc.retryable:
            _start_refused(rs, exc)  # a missing binary or model file: no retry can fix it
        else:
            _start_failed(asset, rs, f"{type(exc).__name__}: {exc}")
        return
    finally:
        with contextlib.suppress(Exception):
            adapter.close()
    load_ms = int((time.monotonic() - began) * 1000)
    now = clock.now()
    known: dict[str, Any] = {
        "base_url": target.base_url,
        "process": target.handle.to_dict() if target.handle is not None else None,
        "host": config.host_name() if target.handle is not None else "",
    }
    try:
        transition(
            rs,
            S.RUNNING,
            reason="adopted a process left by an interrupted start" if adopt else "ready",
            load_duration_ms=load_ms,
            ready_at=now,
            next_retry_at=None,
            health=Health.OK,
            health_detail="",
            health_checked_at=now,
            **known,
        )
    except InvalidTransition:
        # Asked to stop meanwhile: remember the process so the next step stops it.
        RuntimeState.objects.filter(pk=rs.pk).update(**known)
        raise


def error_summary(error: str) -> str:
    """The first line of a failure: what the timeline and the UI show. The runtime's own output
    (a failed launch carries its log tail) stays in ``last_error`` and in the runtime log."""
    return error.strip().split("\n", 1)[0].removesuffix("; log tail:")[:300]


def _start_failed(asset: Asset, rs: RuntimeState, error: str) -> None:
    failures = rs.consecutive_failures + 1
    limit = config.restart_max_attempts()
    health: dict[str, Any] = {
        "health": Health.DOWN,
        "health_detail": error[:500],
        "health_checked_at": clock.now(),
    }
    if failures >= limit:
        transition(
            rs,
            S.FAILED,
            reason=f"gave up after {failures} failed attempts",
            last_error=error,
            consecutive_failures=failures,
            next_retry_at=None,
            detail=error_summary(error),
            **health,
        )
        return
    delay = config.backoff_s(failures)
    transition(
        rs,
        S.STARTING,
        reason=f"start failed ({failures}/{limit}); retry in {delay:.1f}s",
        last_error=error,
        consecutive_failures=failures,
        next_retry_at=clock.now() + timedelta(seconds=delay),
        detail=error_summary(error),
        **health,
    )
    dispatch.reconcile_on_commit(asset, countdown=delay)


def _start_refused(rs: RuntimeState, exc: SpawnFailed) -> None:
    """A start that can never work (``SpawnFailed`` not retryable): ``failed`` at once, no backoff."""
    error = f"{type(exc).__name__}: {exc}"
    transition(
        rs,
        S.FAILED,
        reason=error_summary(exc.message),
        last_error=error,
        consecutive_failures=rs.consecutive_failures + 1,
        next_retry_at=None,
        detail=error_summary(error),
        health=Health.DOWN,
        health_detail=error[:500],
        health_checked_at=clock.now(),
    )


def _crashed(asset: Asset, policy: Policy, rs: RuntimeState, error: str) -> None:
    """A running runtime died: restart it with backoff (desired running) or let it rest."""
    failures = rs.consecutive_failures + 1
    limit = config.restart_max_attempts()
    common: dict[str, Any] = {
        "last_error": error,
        "consecutive_failures": failures,
        "detail": error_summary(error),
    }
    if policy.desired != "running":
        transition(rs, S.STOPPED, reason=f"crashed: {error}", base_url="", process=None, **common)
        return
    if failures >= limit:
        transition(
            rs,
            S.FAILED,
            reason=f"crashed {failures} times in a row",
            next_retry_at=None,
            base_url="",
            process=None,
            **common,
        )
        return
    delay = config.backoff_s(failures)
    transition(
        rs,
        S.STARTING,
        reason=f"crashed ({failures}/{limit}); restart in {delay:.1f}s",
        started_at=clock.now(),
        ready_at=None,
        next_retry_at=clock.now() + timedelta(seconds=delay),
        **common,
    )
    dispatch.reconcile_on_commit(asset, countdown=delay)


def _finish_stop(asset: Asset, policy: Policy, rs: RuntimeState) -> None:
    """Stop what runs and land in ``sleeping`` (on-demand) or ``stopped``."""
    target = S.SLEEPING if policy.runnable and policy.desired == "on-demand" else S.STOPPED
    handle = runner.handle_from(rs.process)
    if (
        target == S.SLEEPING
        and handle is not None
        and policy.binding is not None
        and runner.is_alive(handle)
        and runner.sleep_in_place(policy.binding, asset.asset_id, handle)
    ):
        # The process stays, asleep: the next wake adopts it (see _start).
        transition(
            rs,
            S.SLEEPING,
            reason=rs.reason or "asleep",
            base_url="",
            process={**handle.to_dict(), ASLEEP: True},
            stopped_at=clock.now(),
            health=Health.UNKNOWN,
            health_detail="",
        )
        return
    try:
        if handle is not None or policy.launched:
            runner.stop_process(handle)
            runner.stop_process(runner.orphan_for(asset.asset_id, handle))
        elif policy.managed and policy.binding is not None:
            adapter, managed = runner.make_runtime(policy.binding, asset.asset_id)
            try:
                if managed is not None:
                    managed.sleep() if target == S.SLEEPING else managed.stop()
            finally:
                adapter.close()
    except Exception as exc:  # could not stop it: say so rather than pretend
        transition(rs, S.FAILED, reason="stop failed", last_error=f"{type(exc).__name__}: {exc}")
        return
    transition(
        rs,
        target,
        reason=rs.reason or "stopped",
        base_url="",
        process=None,
        stopped_at=clock.now(),
        health=Health.UNKNOWN,
        health_detail="",
    )


def _record_health(rs: RuntimeState, report: HealthReport) -> None:
    # Only onto the state it was observed in: a transition meanwhile (a sleep, a crash) wins.
    RuntimeState.objects.filter(pk=rs.pk, generation=rs.generation).update(
        health=report.state.value, health_detail=report.detail[:500], health_checked_at=clock.now()
    )


def _observe_external(asset: Asset, policy: Policy, rs: RuntimeState) -> str:
    """External runtimes have no lifecycle: their observed state follows their health."""
    assert policy.binding is not None
    report = runner.probe_health(policy.binding, asset.asset_id, None)
    _record_health(rs, report)
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
