"""API router: ``GET /api/v1/hosts``, each host with its capacity, what is placed on it and its
heartbeat's age (``runtimes.hosts.overview``). Read-only: the ``view`` permission."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, get_type_hints

from django.http import HttpRequest
from ninja import Router, Schema

from api.auth import require
from api.runtime_schemas import with_errors
from runtimes.hosts.overview import HostView, PlacedModel, hosts_overview

router = Router(tags=["hosts"])


class GpuOut(Schema):
    index: int
    name: str
    vram_total_mb: int
    vram_free_mb: int


# The overview's field types: the API reports those fields as they are.
_PLACED, _HOST = get_type_hints(PlacedModel), get_type_hints(HostView)


class PlacedOut(Schema):
    # A model placed on the host: what PlacedModel reports, less the sizes placement counts.
    __annotations__ = {
        f.name: _PLACED[f.name] for f in fields(PlacedModel) if f.name not in ("vram_gb", "ram_gb")
    }


class HostOut(Schema):
    # A host: what HostView reports, with the API's own name and shape where they differ.
    __annotations__ = {
        "name": _HOST["name"],
        "status": str,  # live | unreachable
        "heartbeat_age_s": _HOST["heartbeat_age_s"],
        "last_heartbeat_at": _HOST["last_heartbeat_at"],
        "unreachable_since": _HOST["unreachable_since"],
        "version": _HOST["version"],
        "queues": _HOST["queues"],
        "cpu_count": _HOST["cpu_count"],
        "gpus": list[GpuOut],
        "capacity_declared": _HOST["declared"],
        "vram_capacity_gb": _HOST["vram_capacity_gb"],
        "vram_used_gb": float,
        "ram_capacity_gb": _HOST["ram_capacity_gb"],
        "ram_used_gb": float,
        "ram_total_mb": _HOST["ram_total_mb"],
        "ram_free_mb": _HOST["ram_free_mb"],
        "placed": list[PlacedOut],
    }


def host_out(h: HostView) -> dict[str, Any]:
    return {
        "name": h.name,
        "status": "live" if h.live else "unreachable",
        "heartbeat_age_s": round(h.heartbeat_age_s, 1),
        "last_heartbeat_at": h.last_heartbeat_at,
        "unreachable_since": h.unreachable_since,
        "version": h.version,
        "queues": h.queues,
        "cpu_count": h.cpu_count,
        "gpus": [{k: g.get(k) for k in ("index", "name", "vram_total_mb", "vram_free_mb")} for g in h.gpus],
        "capacity_declared": h.declared,
        "vram_capacity_gb": h.vram_capacity_gb,
        "vram_used_gb": h.vram_used_gb,
        "ram_capacity_gb": h.ram_capacity_gb,
        "ram_used_gb": h.ram_used_gb,
        "ram_total_mb": h.ram_total_mb,
        "ram_free_mb": h.ram_free_mb,
        "placed": [p.__dict__ for p in h.placed],
    }


@router.get("", response=with_errors(list[HostOut]), summary="Hosts: capacity, placed models, heartbeat age")
def list_hosts(request: HttpRequest) -> list[dict[str, Any]]:
    require(request, "view")
    return [host_out(h) for h in hosts_overview()]
