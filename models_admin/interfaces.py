"""The interface registry: one YAML spec per interface in ``interface_specs/``.

An interface spec says what an asset implementing it must declare (metadata fields
and their types), which runtime capability serves it, which OpenAI-compatible
endpoint it answers, how Hub-UI groups and shows it, and its lifecycle defaults.
Specs load in file-name order, which is also the order of the UI groups.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SPEC_DIR = Path(__file__).resolve().parent / "interface_specs"
FIELD_TYPES = {"int", "float", "str", "bool", "list"}


@dataclass(frozen=True)
class MetadataField:
    name: str
    type: str
    required: bool = False
    min: float | None = None
    choices: tuple[str, ...] | None = None
    help: str = ""


@dataclass(frozen=True)
class Column:
    key: str
    label: str


@dataclass(frozen=True)
class Throughput:
    """The throughput chart of an asset page: which per-minute series (``MinutePoint``), how labelled."""

    label: str = "QPS"
    unit: str = "req/s"
    series: str = "qps"


@dataclass(frozen=True)
class InterfaceSpec:
    name: str
    version: str
    group: str
    model_type: str
    description: str
    capability: str
    capabilities: tuple[str, ...]
    required_endpoints: tuple[str, ...]
    endpoint: str
    endpoints: tuple[tuple[str, str], ...]  # (path, operation) the gateway routes to this interface
    metadata: tuple[MetadataField, ...]
    columns: tuple[Column, ...]
    lifecycle_defaults: dict[str, Any]
    policy_defaults: dict[str, Any]
    order: int
    throughput: Throughput = Throughput()

    @property
    def key(self) -> str:
        """``llm-runtime:v1``."""
        return f"{self.name}:{self.version}"

    def metadata_field(self, name: str) -> MetadataField | None:
        return next((f for f in self.metadata if f.name == name), None)


def _load_spec(path: Path, order: int) -> InterfaceSpec:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    fields = []
    for name, opts in (doc.get("metadata") or {}).items():
        if opts.get("type") not in FIELD_TYPES:
            raise ValueError(f"{path.name}: metadata.{name}.type must be one of {sorted(FIELD_TYPES)}")
        choices = opts.get("choices")
        fields.append(
            MetadataField(
                name=name,
                type=opts["type"],
                required=bool(opts.get("required", False)),
                min=opts.get("min"),
                choices=tuple(choices) if choices else None,
                help=opts.get("help", ""),
            )
        )
    return InterfaceSpec(
        name=doc["interface"],
        version=doc["version"],
        group=doc["group"],
        model_type=doc["model_type"],
        description=doc.get("description", ""),
        capability=doc["capability"],
        capabilities=tuple(doc.get("capabilities") or ()),
        required_endpoints=tuple(doc.get("required_endpoints") or ()),
        endpoint=doc["endpoint"],
        endpoints=_endpoints(path, doc),
        metadata=tuple(fields),
        columns=tuple(Column(**c) for c in doc.get("columns") or ()),
        lifecycle_defaults=dict(doc["lifecycle_defaults"]),
        policy_defaults=dict(doc.get("policy_defaults") or {}),
        order=order,
        throughput=Throughput(**doc.get("throughput", {})),
    )


def _endpoints(path: Path, doc: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """``endpoints`` (path -> operation), or the one ``endpoint`` serving the first capability."""
    declared = doc.get("endpoints")
    if declared is None:
        capabilities = doc.get("capabilities") or [doc["capability"]]
        return ((str(doc["endpoint"]), str(capabilities[0])),)
    if not isinstance(declared, dict) or not declared:
        raise ValueError(f"{path.name}: endpoints must map each path to an operation")
    return tuple((str(route), str(operation)) for route, operation in declared.items())


@functools.cache
def all_interfaces() -> tuple[InterfaceSpec, ...]:
    """Every known interface, in registry (and UI group) order."""
    paths = sorted(SPEC_DIR.glob("*.yaml"))
    return tuple(_load_spec(path, order) for order, path in enumerate(paths))


def get_interface(name: str, version: str | None = None) -> InterfaceSpec | None:
    """The spec named ``name`` (newest version unless ``version`` is given), or None."""
    matches = [s for s in all_interfaces() if s.name == name]
    if version is not None:
        matches = [s for s in matches if s.version == version]
    return matches[-1] if matches else None


def interface_names() -> tuple[str, ...]:
    return tuple(dict.fromkeys(s.name for s in all_interfaces()))
