"""What requests tell the lifecycle: when the last one finished, and how long a wake will take."""

from __future__ import annotations

import math
import statistics
from datetime import timedelta

from django.db.models import Q

from models_admin.models import Asset
from runtimes.lifecycle import clock, config
from runtimes.models import LifecycleEvent, ObservedState, RuntimeState


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
    if rs is not None and rs.state == ObservedState.STARTING:
        if rs.next_retry_at is not None and rs.next_retry_at > now:
            estimate += (rs.next_retry_at - now).total_seconds()
        elif rs.started_at is not None:
            estimate -= (now - rs.started_at).total_seconds()
    return max(1, math.ceil(estimate))
