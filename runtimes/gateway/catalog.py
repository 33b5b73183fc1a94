"""``GET /v1/models``: the models a request can be served by now or on wake."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist

from models_admin.documents import document_interfaces
from models_admin.models import Asset
from runtimes.lifecycle import policy_for, wake_refusal


def live_models() -> list[dict[str, Any]]:
    """The models a request can be served by now or on wake, in OpenAI's shape plus ``hub``.

    Approved, not retired, with a runtime block of a known kind, and not refused by the
    lifecycle's wake rule (desired stopped, failed); an external runtime, which the hub
    routes to without starting it, is listed whenever it is runnable. Runs queries: call
    it from a thread.
    """
    query = Asset.objects.filter(live_spec__isnull=False, retired_at__isnull=True).select_related(
        "runtime_state"
    )
    models = []
    for asset in query.order_by("asset_id"):
        policy = policy_for(asset)
        try:
            state: str | None = str(asset.runtime_state.state)
        except ObjectDoesNotExist:  # never started: no runtime state row yet
            state = None
        if not policy.runnable or (policy.managed and wake_refusal(policy, state)):
            continue
        live: dict[str, Any] = asset.live_spec or {}
        models.append(
            {
                "id": asset.asset_id,
                "object": "model",
                "created": int(asset.created_at.timestamp()),
                "owned_by": "hub",
                "hub": {
                    "display_name": live.get("display_name") or asset.display_name,
                    "interfaces": document_interfaces(live),
                    "metadata": live.get("metadata") or {},
                },
            }
        )
    return models
