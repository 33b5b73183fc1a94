"""How the hub reaches (or starts) one asset's runtime: the asset document's ``runtime`` block.

Plain data with no Django imports; the catalog validates the document and builds this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LaunchSpec:
    """A runtime process the hub starts itself; the launcher adds host/port flags."""

    command: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    ready_timeout_s: float = 300.0


@dataclass(frozen=True)
class RuntimeBinding:
    kind: str
    model: str
    base_url: str | None = None
    host: str | None = None
    launch: LaunchSpec | None = None
    api_key_env: str | None = None
    api_key_file: str | None = None

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> RuntimeBinding:
        """Build from an already validated ``runtime`` block."""
        launch_doc = doc.get("launch")
        launch = None
        if launch_doc:
            launch = LaunchSpec(
                command=tuple(launch_doc["command"]),
                env=dict(launch_doc.get("env") or {}),
                ready_timeout_s=float(launch_doc.get("ready_timeout_s", 300)),
            )
        return cls(
            kind=doc["kind"],
            model=doc["model"],
            base_url=doc.get("base_url"),
            host=doc.get("host"),
            launch=launch,
            api_key_env=doc.get("api_key_env"),
            api_key_file=doc.get("api_key_file"),
        )
