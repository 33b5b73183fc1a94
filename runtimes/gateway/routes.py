"""The gateway's routes, generated from the interface specs.

Each spec (``models_admin/interface_specs/*.yaml``) names its ``endpoint`` and its
``capabilities``; the first capability is the operation served there. Adding a spec adds
its route; a spec whose operation the gateway cannot serve still gets its route, which
answers a JSON 404 naming the interface.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from models_admin.interfaces import InterfaceSpec, all_interfaces
from runtimes.gateway.errors import RouteNotFound
from runtimes.gateway.operations import OPERATIONS, Operation

MODELS_PATH = "/v1/models"


@dataclass(frozen=True)
class Route:
    path: str
    interface: str
    operation: str

    def served_by(self) -> Operation:
        """The operation for this route; ``RouteNotFound`` (404) naming the interface if none."""
        operation = OPERATIONS.get(self.operation)
        if operation is None:
            raise RouteNotFound(
                f"no runtime serves the {self.interface} interface ({self.operation} on {self.path})"
            )
        return operation


def _routes_of(spec: InterfaceSpec) -> list[Route]:
    operation = spec.capabilities[0] if spec.capabilities else spec.capability
    return [Route(spec.endpoint.rstrip("/"), spec.name, operation)]


@functools.cache
def routes() -> dict[str, Route]:
    """``POST`` path -> route, from every interface spec (first spec wins a shared path)."""
    table: dict[str, Route] = {}
    for spec in all_interfaces():
        for route in _routes_of(spec):
            table.setdefault(route.path, route)
    return table


def route_for(method: str, path: str) -> Route:
    """The route of ``POST path``; ``RouteNotFound`` (404) for anything else."""
    route = routes().get(path.rstrip("/")) if method == "POST" else None
    if route is None:
        raise RouteNotFound(f"no route {method} {path}")
    return route
