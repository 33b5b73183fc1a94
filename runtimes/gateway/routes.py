"""The gateway's routes, generated from the interface specs.

Each spec (``models_admin/interface_specs/*.yaml``) names its endpoints and the operation
served at each (``endpoints``; by default its ``endpoint`` serving its first capability).
Adding a spec adds its routes; a route whose operation the gateway does not know, or whose
capability no runtime kind implements, answers a JSON 404 naming the interface.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from models_admin.interfaces import InterfaceSpec, all_interfaces
from runtimes.gateway.errors import RouteNotFound
from runtimes.gateway.operations import OPERATIONS, Operation
from runtimes.registry import capabilities_of, runtime_kinds

MODELS_PATH = "/v1/models"


@dataclass(frozen=True)
class Route:
    path: str
    interface: str
    operation: str
    capability: str  # the runtime protocol a model's adapter implements to serve it

    def served_by(self) -> Operation:
        """The operation for this route; ``RouteNotFound`` (404) naming the interface if nothing
        serves it (no such operation in the gateway, or no runtime kind with the capability)."""
        operation = OPERATIONS.get(self.operation)
        if operation is None or not any(self.capability in capabilities_of(k) for k in runtime_kinds()):
            raise RouteNotFound(
                f"no runtime serves the {self.interface} interface ({self.operation} on {self.path})"
            )
        return operation


def _routes_of(spec: InterfaceSpec) -> list[Route]:
    return [
        Route(path.rstrip("/"), spec.name, operation, spec.capability) for path, operation in spec.endpoints
    ]


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
