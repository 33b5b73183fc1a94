"""Usage metrics: live rates in Redis, per-minute rollups in PostgreSQL, a Prometheus view.

Import-light on purpose (Celery's signal wiring imports ``runtimes.metrics.heartbeat``
before Django is set up), so the rollup functions are imported when first called.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from runtimes.metrics.live import InterfaceRates, LiveRates, live_rates

if TYPE_CHECKING:
    from runtimes.metrics.rollup import MinutePoint, UsageSummary


def minute_series(
    asset_id: str, since: datetime, *, until: datetime | None = None, interface: str | None = None
) -> list[MinutePoint]:
    """See :func:`runtimes.metrics.rollup.minute_series`."""
    from runtimes.metrics.rollup import minute_series as series

    return series(asset_id, since, until=until, interface=interface)


def usage_summary(asset_id: str, since: datetime, *, until: datetime | None = None) -> UsageSummary:
    """See :func:`runtimes.metrics.rollup.usage_summary`."""
    from runtimes.metrics.rollup import usage_summary as summary

    return summary(asset_id, since, until=until)


__all__ = ["InterfaceRates", "LiveRates", "live_rates", "minute_series", "usage_summary"]
