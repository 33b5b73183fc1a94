"""Resolve: which runtime serves ``(model, interface)`` right now, waking it if it sleeps.

:func:`inspect` reads the catalog and the lifecycle state (two tables, one query) and
either returns a routable :class:`Target` or raises the taxonomy's error; with
``wake=True`` it asks the lifecycle to wake a sleeping on-demand asset and raises
:class:`~runtimes.errors.ModelLoading` with a ``Retry-After`` estimate. Callers that
want to wait use :class:`runtimes.gateway.resolver.Resolver`, which caches answers and
shares one poll per waking model.

Only ``Asset.live_spec`` is read: an unapproved edit never changes routing.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ObjectDoesNotExist

from models_admin.audit import Actor
from models_admin.documents import document_interfaces, queue_policy
from models_admin.models import Asset
from runtimes.binding import RuntimeBinding
from runtimes.errors import ModelLoading, ModelNotFound
from runtimes.gateway.errors import (
    InterfaceNotImplemented,
    ModelFailed,
    ModelStopped,
    NoRuntime,
    NotApproved,
    Retired,
)
from runtimes.gateway.queue import Limits
from runtimes.lifecycle import InvalidTransition, do_wake_asset, retry_after_estimate
from runtimes.registry import is_managed

RUNNING = "running"
WAKEABLE = frozenset({"stopped", "sleeping", "unreachable"})  # unreachable: placed afresh


@dataclass(frozen=True)
class Target:
    """Everything the gateway needs to forward a request, cached per asset."""

    asset_id: str
    interfaces: tuple[str, ...]
    kind: str
    model: str  # the model's name on the runtime
    base_url: str
    context_length: int | None
    max_concurrency: int | None
    limits: Limits | None  # None: no concurrency limit, no queue
    created: int  # unix seconds (for /v1/models)
    api_key_env: str | None = None  # where the upstream key comes from (never the key itself)
    api_key_file: str | None = None

    def check_interface(self, interface: str) -> None:
        if interface not in self.interfaces:
            raise InterfaceNotImplemented(
                f"model {self.asset_id!r} does not implement {interface} (it implements {', '.join(self.interfaces)})"
            )


def _runtime_state(asset: Asset) -> Any:
    """The lifecycle's ``RuntimeState`` row, or None before the asset's first start."""
    try:
        return asset.runtime_state
    except ObjectDoesNotExist:
        return None


def _load(asset_id: str) -> Asset:
    asset = Asset.objects.select_related("runtime_state").filter(asset_id=asset_id).first()
    if asset is None:
        raise ModelNotFound(f"model {asset_id!r} does not exist")
    return asset


def _retry_after(asset: Asset) -> int:
    return max(1, int(retry_after_estimate(asset)))


def _wake(asset: Asset, actor: Actor | None) -> None:
    with contextlib.suppress(InvalidTransition):  # someone else is waking it already
        do_wake_asset(asset, actor=actor)  # type: ignore[arg-type]


def target_of(asset: Asset, base_url: str, context_length: int | None) -> Target:
    live = asset.live_spec or {}
    runtime = RuntimeBinding.from_document(live["runtime"])
    metadata = live.get("metadata") or {}
    limits = limits_of(live)
    return Target(
        asset_id=asset.asset_id,
        interfaces=tuple(document_interfaces(live)),
        kind=runtime.kind,
        model=runtime.model,
        base_url=base_url.rstrip("/"),
        context_length=context_length or metadata.get("context_length"),
        max_concurrency=limits.max_concurrency if limits else None,
        limits=limits,
        created=int(asset.created_at.timestamp()),
        api_key_env=runtime.api_key_env,
        api_key_file=runtime.api_key_file,
    )


def inspect(asset_id: str, interface: str | None, *, wake: bool, actor: Actor | None = None) -> Target:
    """The routable target of ``asset_id`` for ``interface`` (None: any interface).

    Raises ``ModelNotFound`` (404); ``NotApproved``, ``Retired``, ``NoRuntime``,
    ``InterfaceNotImplemented``, ``ModelStopped`` (409); ``ModelFailed`` (502);
    ``ModelLoading`` (503, with ``retry_after``) while the runtime is not running, after
    asking the lifecycle to wake it when ``wake`` is set. Runs database queries: call it
    from a thread, not an event loop.
    """
    asset = _load(asset_id)
    live = asset.live_spec
    if live is None:
        if asset.retired_at is not None:
            raise Retired(f"model {asset_id!r} is retired")
        raise NotApproved(f"model {asset_id!r} has no approved revision")
    interfaces = document_interfaces(live)
    if interface is not None and interface not in interfaces:
        raise InterfaceNotImplemented(
            f"model {asset_id!r} does not implement {interface} (it implements {', '.join(interfaces)})"
        )
    if not live.get("runtime"):
        raise NoRuntime(f"model {asset_id!r} has no runtime bound")
    binding = RuntimeBinding.from_document(live["runtime"])
    state = _runtime_state(asset)
    desired = str((live.get("lifecycle") or {}).get("desired") or "")
    if state is None:
        if desired == "stopped" and is_managed(binding.kind):  # never started: as /v1/models says
            raise ModelStopped(f"model {asset_id!r} is stopped by an operator")
        if binding.base_url:  # an external runtime the lifecycle does not track (yet)
            return target_of(asset, binding.base_url, None)
        if wake:
            _wake(asset, actor)
        raise ModelLoading(f"model {asset_id!r} is starting", retry_after=_retry_after(asset))
    observed = str(state.state)
    base_url = state.base_url or binding.base_url or ""
    if observed == RUNNING and base_url:
        return target_of(asset, base_url, None)  # the catalog's context_length
    if desired == "stopped":
        raise ModelStopped(f"model {asset_id!r} is stopped by an operator")
    if observed == "failed":
        raise ModelFailed(f"model {asset_id!r} failed: {state.last_error or 'unknown error'}")
    if wake and observed in WAKEABLE:
        _wake(asset, actor)
    raise ModelLoading(f"model {asset_id!r} is {observed}; waking it", retry_after=_retry_after(asset))


def limits_of(live: dict[str, Any]) -> Limits | None:
    """The queueing policy of a live document (defaults applied); None without a limit."""
    max_concurrency, max_queue, timeout_s = queue_policy(live.get("policy") or {})
    if max_concurrency is None:
        return None
    return Limits(max_concurrency, max_queue, timeout_s)


def live_limits(asset_id: str) -> Limits | None:
    """The queueing policy of a live asset; raises 404 / 409 errors like :func:`inspect`."""
    asset = Asset.objects.filter(asset_id=asset_id).only("asset_id", "live_spec", "retired_at").first()
    if asset is None:
        raise ModelNotFound(f"model {asset_id!r} does not exist")
    if asset.live_spec is None:
        if asset.retired_at is not None:
            raise Retired(f"model {asset_id!r} is retired")
        raise NotApproved(f"model {asset_id!r} has no approved revision")
    return limits_of(asset.live_spec)
