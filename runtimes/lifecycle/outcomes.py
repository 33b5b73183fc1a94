"""The slow steps of the reconcile and what they end in: start, stop, a failed start, a crash.

Called with the asset's advisory lock held (``give_up`` takes it itself). Each ends in one
transition with its reason; a failed attempt is retried with backoff, then ``failed``.
"""

from __future__ import annotations

import contextlib
import time
from datetime import timedelta
from typing import Any

from models_admin.models import Asset
from runtimes.errors import SpawnFailed
from runtimes.lifecycle import clock, config, dispatch, runner
from runtimes.lifecycle.errors import InvalidTransition
from runtimes.lifecycle.locks import asset_lock
from runtimes.lifecycle.policy import Policy, policy_for
from runtimes.lifecycle.transitions import asset_by_id, state_of, transition
from runtimes.models import Health, ObservedState, RuntimeState
from runtimes.protocols.managed import ProcessHandle

S = ObservedState


def error_summary(error: str) -> str:
    """The first line of a failure: what the timeline and the UI show. The runtime's own output
    (a failed launch carries its log tail) stays in ``last_error`` and in the runtime log."""
    return error.strip().split("\n", 1)[0].removesuffix("; log tail:")[:300]


ASLEEP = "asleep"  # in RuntimeState.process: the process sleeps in place (vLLM sleep mode)


def start(asset: Asset, policy: Policy, rs: RuntimeState) -> None:
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
            start_refused(rs, exc)  # a missing binary or model file: no retry can fix it
        else:
            start_failed(asset, rs, f"{type(exc).__name__}: {exc}")
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


def start_failed(asset: Asset, rs: RuntimeState, error: str) -> None:
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


def start_refused(rs: RuntimeState, exc: SpawnFailed) -> None:
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


def crashed(asset: Asset, policy: Policy, rs: RuntimeState, error: str) -> None:
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


def finish_stop(asset: Asset, policy: Policy, rs: RuntimeState) -> None:
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
        # The process stays, asleep: the next wake adopts it (see start).
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


def give_up(asset_id: str | int, reason: str) -> None:
    """Mark the asset ``failed`` with ``reason`` and stop any process left for it."""
    asset = asset_by_id(asset_id)
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
