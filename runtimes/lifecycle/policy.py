"""What the live spec asks of an asset's runtime. Reads ``live_spec`` only, never ``spec``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models_admin.models import Asset
from runtimes import registry
from runtimes.binding import RuntimeBinding


@dataclass(frozen=True)
class Policy:
    runnable: bool  # approved, live, not retired, with a runtime block of a known kind
    desired: str  # running | on-demand | stopped
    auto_sleep_min: int  # 0: never sleeps
    binding: RuntimeBinding | None
    managed: bool  # the hub starts/stops it (ManagedRuntime)
    launched: bool  # the hub runs it as a process (runtime.launch)
    why_not: str = ""

    @property
    def host(self) -> str | None:
        return self.binding.host if self.binding is not None else None


def policy_for(asset: Asset) -> Policy:
    live: dict[str, Any] | None = asset.live_spec
    if getattr(asset, "retired_at", None) is not None:
        return Policy(False, "stopped", 0, None, False, False, "retired")
    if not live:
        return Policy(False, "stopped", 0, None, False, False, "not approved: no live spec")
    runtime = live.get("runtime")
    if not runtime:
        return Policy(False, "stopped", 0, None, False, False, "no runtime block")
    binding = RuntimeBinding.from_document(runtime)
    try:
        managed = registry.is_managed(binding.kind)
    except KeyError:
        return Policy(False, "stopped", 0, None, False, False, f"unknown runtime kind {binding.kind!r}")
    lifecycle = live.get("lifecycle") or {}
    return Policy(
        runnable=True,
        desired=str(lifecycle.get("desired") or "on-demand"),
        auto_sleep_min=int(lifecycle.get("auto_sleep_min") or 0),
        binding=binding,
        managed=managed,
        launched=managed and binding.launch is not None,
    )


def wake_refusal(policy: Policy, state: str | None) -> str:
    """Why a wake cannot start this asset's runtime, in words for the operator; "" when it can.

    The one rule behind ``do_wake_asset``'s refusals and the UI's missing Wake button.
    """
    if not policy.runnable:
        if policy.why_not == "no runtime block":
            return "catalogued only: no runtime block, nothing to start"
        return f"cannot be woken: {policy.why_not}"
    if not policy.managed:
        return "external runtime: the hub routes to it but does not start it"
    if policy.desired == "stopped":
        return "its desired state is stopped; change the lifecycle to wake it"
    if state == "failed":
        return "failed: an operator must restart it"
    return ""
