"""Usage actions: accept gateway-reported usage events onto the metrics stream.

Only events of existing assets, on an interface they implement, get in (all or none), so no
caller can invent assets in the metrics.
"""

from __future__ import annotations

from models_admin.models import Asset
from runtimes.leases import usage_client
from runtimes.usage import UsageEvent, publish


class UsageRefused(ValueError):
    """An event names an unknown asset or an interface it does not implement (→ 422)."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


def _check_targets(events: list[UsageEvent]) -> None:
    """Refuse (422, naming the field) an event for an asset that does not exist, or on an
    interface it does not implement: nothing else may reach the stream (and the metrics)."""
    implemented = dict(
        Asset.objects.filter(asset_id__in={e.asset_id for e in events}).values_list("asset_id", "interfaces")
    )
    for i, event in enumerate(events):
        interfaces = implemented.get(event.asset_id)
        if interfaces is None:
            field = f"events.{i}.asset_id"
            raise UsageRefused("unknown_asset", f"{field}: no asset {event.asset_id!r}", field)
        if event.interface not in interfaces:
            field = f"events.{i}.interface"
            message = (
                f"{field}: {event.asset_id!r} implements {', '.join(interfaces)}, not {event.interface!r}"
            )
            raise UsageRefused("interface_not_implemented", message, field)


def do_report_usage(events: list[UsageEvent]) -> int:
    """Publish ``events`` (checked first: :class:`UsageRefused`); returns how many."""
    _check_targets(events)
    with usage_client().pipeline(transaction=False) as pipe:
        publish(pipe, events)
        pipe.execute()
    return len(events)
