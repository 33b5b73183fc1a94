"""``ProviderRuntime``: a runtime server as a whole, with no model invocation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Reachability:
    """Whether the server answered at all, and what it said about itself."""

    reachable: bool
    detail: str = ""
    version: str | None = None


@dataclass(frozen=True)
class ServedModel:
    """One model the server lists; ``details`` holds whatever else it reported."""

    name: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CredentialCheck:
    valid: bool
    detail: str = ""


@runtime_checkable
class ProviderRuntime(Protocol):
    """Discovery and configuration for one runtime server (seed 000's provider runtime)."""

    def check_reachable(self) -> Reachability:
        """Ask the server whether it is up. Never raises for a down server: says so."""
        ...

    def list_models(self) -> list[ServedModel]:
        """Models the server serves (or can load) now.

        Raises ``UpstreamError`` / ``RuntimeTimeout`` when the server cannot answer.
        """
        ...

    def validate_credentials(self) -> CredentialCheck:
        """Check the configured credentials against the server; ``valid`` when none are needed."""
        ...

    def config_schema(self) -> dict[str, Any]:
        """JSON Schema of the ``runtime`` block this kind accepts (for forms and the API)."""
        ...
