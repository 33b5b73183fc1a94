"""When ``manage.py up`` stops: stop the runtimes this host launched, and say so in their state.

Called after the worker has stopped, so nothing starts a runtime meanwhile. Each launched
runtime on this host goes ``running``/``starting`` → ``stopping`` → ``sleeping`` (on-demand)
or ``stopped``, with the reason "stopped with the hub", so the next start of the hub reads
no crash and starts what is desired ``running`` again. Then whatever the launcher's state
file still lists (a start interrupted before the database knew its process) is stopped too.
"""

from __future__ import annotations

import logging

from runtimes.lifecycle import clock, config, runner
from runtimes.lifecycle.errors import InvalidTransition
from runtimes.lifecycle.policy import policy_for
from runtimes.lifecycle.transitions import transition
from runtimes.models import Health, ObservedState, RuntimeState

log = logging.getLogger(__name__)
S = ObservedState
REASON = "stopped with the hub"


def stop_launched_runtimes() -> list[str]:
    """Stop every runtime process launched on this host; return their keys (asset ids). Idempotent."""
    stopped: list[str] = []
    states = RuntimeState.objects.select_related("asset").filter(
        state__in=[S.STARTING, S.RUNNING], host=config.host_name(), process__isnull=False
    )
    for rs in states:
        handle = runner.handle_from(rs.process)
        try:
            rs = transition(rs, S.STOPPING, reason=REASON)
            runner.stop_process(handle)
            policy = policy_for(rs.asset)
            target = S.SLEEPING if policy.runnable and policy.desired == "on-demand" else S.STOPPED
            transition(
                rs,
                target,
                reason=REASON,
                base_url="",
                process=None,
                stopped_at=clock.now(),
                health=Health.UNKNOWN,
                health_detail="",
            )
        except InvalidTransition as exc:  # it moved meanwhile: the launcher sweep below still stops it
            log.warning("stopping %s: %s", rs.asset.asset_id, exc)
        stopped.append(rs.asset.asset_id)
    launcher = runner.launcher()
    stopped += [h.key for h in launcher.recorded().values() if launcher.is_alive(h)]
    launcher.recover(keep=lambda _: False)  # stops the live ones, forgets the dead
    return sorted(set(stopped))
