"""Runtime lifecycle: the only code that starts or stops a runtime (see ``services``)."""

from runtimes.lifecycle.errors import InvalidTransition, LifecycleError, NotRunnable
from runtimes.lifecycle.logs import RuntimeLog, runtime_log
from runtimes.lifecycle.policy import policy_for, wake_refusal
from runtimes.lifecycle.services import (
    begin_delivery,
    check_health,
    check_health_all,
    do_restart_asset,
    do_retry_asset,
    do_sleep_asset,
    do_wake_asset,
    end_delivery,
    error_summary,
    give_up,
    mark_request_finished,
    reconcile,
    reconcile_all,
    request_stop,
    retry_after_estimate,
)

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
