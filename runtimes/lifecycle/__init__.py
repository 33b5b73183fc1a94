"""Runtime lifecycle: the only code that starts or stops a runtime.

``actions`` (what operators ask: wake, sleep, restart, retry), ``reconcile`` (the steps that
get there), ``outcomes`` (start, stop, failure, crash), ``health`` (probes), ``delivery`` and
``pickup`` (tasks that kill their worker, starts no worker takes), ``dispatch`` (enqueueing).
"""

from runtimes.lifecycle.actions import (
    do_restart_asset,
    do_retry_asset,
    do_sleep_asset,
    do_wake_asset,
    request_stop,
)
from runtimes.lifecycle.activity import mark_request_finished, retry_after_estimate
from runtimes.lifecycle.delivery import begin_delivery, end_delivery
from runtimes.lifecycle.errors import InvalidTransition, LifecycleError, NotRunnable
from runtimes.lifecycle.health import check_health
from runtimes.lifecycle.logs import RuntimeLog, runtime_log
from runtimes.lifecycle.outcomes import error_summary, give_up
from runtimes.lifecycle.policy import policy_for, wake_refusal
from runtimes.lifecycle.reconcile import check_health_all, reconcile, reconcile_all

__all__ = [
    "InvalidTransition",
    "LifecycleError",
    "NotRunnable",
    "RuntimeLog",
    "begin_delivery",
    "check_health",
    "check_health_all",
    "do_restart_asset",
    "do_retry_asset",
    "do_sleep_asset",
    "do_wake_asset",
    "end_delivery",
    "error_summary",
    "give_up",
    "mark_request_finished",
    "policy_for",
    "reconcile",
    "reconcile_all",
    "request_stop",
    "retry_after_estimate",
    "runtime_log",
    "wake_refusal",
]
