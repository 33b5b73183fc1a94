"""Runtime lifecycle: the only code that starts or stops a runtime (see ``services``)."""

from runtimes.lifecycle.errors import InvalidTransition, LifecycleError, NotRunnable
from runtimes.lifecycle.services import (
    begin_delivery,
    check_health,
    check_health_all,
    do_restart_asset,
    do_retry_asset,
    do_sleep_asset,
    do_wake_asset,
    end_delivery,
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
    "begin_delivery",
    "check_health",
    "check_health_all",
    "do_restart_asset",
    "do_retry_asset",
    "do_sleep_asset",
    "do_wake_asset",
    "end_delivery",
    "give_up",
    "mark_request_finished",
    "reconcile",
    "reconcile_all",
    "request_stop",
    "retry_after_estimate",
]
