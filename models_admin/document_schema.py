"""The asset document as a JSON Schema, built from the interface specs and the runtime registry.

The API publishes it in OpenAPI for the bodies that carry a document (create, update), so
clients and property-based tests see the document's real shape: its fields, types, enums,
required keys, the metadata each interface declares and the runtime kinds that serve it.

:func:`models_admin.validation.validate_asset_document` stays the one judge. The schema
accepts everything the validator accepts; a few rules it cannot say (the size and nesting
caps, who may declare ``runtime.launch``, allowed executables and secret names, two
interfaces that both declare a metadata field) the validator still refuses with a 422
naming the field.
"""

from __future__ import annotations

import functools
from typing import Any

from models_admin.asset_ids import ASSET_ID_MAX, ASSET_ID_SCHEMA_PATTERN
from models_admin.documents import MAX_QUEUE, MAX_QUEUE_TIMEOUT_S
from models_admin.interfaces import InterfaceSpec, MetadataField, all_interfaces, interface_names
from runtimes import registry

INT32 = 2**31 - 1
NO_NUL = "^[^\\x00]*$"
# Not blank: the validator strips text before judging it empty.
NOT_BLANK = "^[^\\x00]*[^\\s\\x00][^\\x00]*$"


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _text(max_len: int, *, required: bool) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_len, "pattern": NOT_BLANK if required else NO_NUL}


def _integer(minimum: int | None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "maximum": INT32}
    if minimum is not None:
        schema["minimum"] = minimum
    return schema


def _number(minimum: float) -> dict[str, Any]:
    return {"type": "number", "minimum": minimum, "maximum": INT32}


def _metadata_field(field: MetadataField) -> dict[str, Any]:
    if field.type == "int":
        schema = _integer(int(field.min) if field.min is not None else None)
    elif field.type == "float":
        schema = _number(field.min or 0)
    elif field.type == "str":
        schema = _text(500, required=True)
        if field.choices:  # judged after stripping, as the validator does
            schema["pattern"] = "^\\s*(?:" + "|".join(field.choices) + ")\\s*$"
    elif field.type == "bool":
        schema = {"type": "boolean"}
    else:
        schema = {"type": "array"}
    if field.help:
        schema["description"] = field.help
    return schema


def _metadata(spec: InterfaceSpec | None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "description": "Typed fields the interface declares; other keys are kept as given.",
        "propertyNames": {"minLength": 1, "pattern": NO_NUL},
    }
    if spec is None:
        return _nullable(schema)
    schema["properties"] = {f.name: _metadata_field(f) for f in spec.metadata}
    required = [f.name for f in spec.metadata if f.required]
    if required:
        schema["required"] = required
        return schema
    return _nullable(schema)


def _runtime(spec: InterfaceSpec | None) -> dict[str, Any]:
    kinds = [
        k for k in registry.runtime_kinds() if spec is None or spec.capability in registry.capabilities_of(k)
    ]
    if not kinds:
        return {"type": "null", "description": f"no runtime kind serves {spec.name if spec else '?'} yet"}
    launch = {
        "type": "object",
        "description": "A process the hub starts (admins only; executables on the allow-list).",
        "additionalProperties": False,
        "required": ["command"],
        "properties": {
            "command": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
            # The validator reads a missing or empty value as no variables.
            "env": {
                "anyOf": [
                    {"type": "object", "additionalProperties": {"type": "string"}},
                    {"enum": [None, False, 0, "", []]},
                ]
            },
            "ready_timeout_s": _number(1),
        },
    }
    runtime = {
        "type": "object",
        "description": "How the hub reaches (base_url) or starts (launch) the model.",
        "additionalProperties": False,
        "required": ["kind", "model"],
        "properties": {
            "kind": {"enum": kinds},
            "model": _text(300, required=True),
            "base_url": _nullable({"type": "string", "maxLength": 500, "description": "http(s) URL"}),
            "host": _nullable({"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,62}$"}),
            "launch": _nullable(launch),
            "api_key_env": _nullable({"type": "string"}),
            "api_key_file": _nullable({"type": "string"}),
        },
        "anyOf": [
            {"required": ["base_url"], "properties": {"base_url": {"type": "string"}}},
            {"required": ["launch"]},
        ],
    }
    return _nullable(runtime)


def _variant(spec: InterfaceSpec | None) -> dict[str, Any]:
    specs = all_interfaces()
    names = "|".join(interface_names())
    if spec is None:
        interface: dict[str, Any] = {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"type": "string", "pattern": f"^(?:{names})(?::[\\s\\S]*)?$"},
        }
        versions = sorted({s.version for s in specs})
    else:
        interface = {"type": "string", "pattern": f"^{spec.name}(?::[\\s\\S]*)?$"}
        versions = sorted({s.version for s in specs if s.name == spec.name})
    return {
        "type": "object",
        "title": f"{spec.name} asset" if spec else "asset with several interfaces",
        "additionalProperties": False,
        "required": ["asset_id", "display_name", "version", "interface"]
        + (["metadata"] if spec and any(f.required for f in spec.metadata) else []),
        "properties": {
            "asset_id": {"type": "string", "maxLength": ASSET_ID_MAX, "pattern": ASSET_ID_SCHEMA_PATTERN},
            "display_name": _text(200, required=True),
            "version": _text(64, required=True),
            "description": _nullable(_text(2000, required=False)),
            "interface": interface,
            "interface_version": {"enum": versions},
            "class": {"enum": ["model"]},
            "resources": _nullable(
                {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "gpu_required": {"type": "boolean"},
                        "min_vram_gb": _nullable(_number(0)),
                        "min_ram_gb": _nullable(_number(0)),
                        "disk_gb": _nullable(_number(0)),
                    },
                }
            ),
            "lifecycle": _nullable(
                {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "desired": {"enum": ["running", "on-demand", "stopped"]},
                        "auto_sleep_min": _integer(0),
                    },
                }
            ),
            "policy": _nullable(
                {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "max_concurrency": _integer(1),
                        "max_queue": {"type": "integer", "minimum": 0, "maximum": MAX_QUEUE},
                        "queue_timeout_s": {"type": "number", "minimum": 0, "maximum": MAX_QUEUE_TIMEOUT_S},
                    },
                }
            ),
            "metadata": _metadata(spec),
            "runtime": _runtime(spec),
        },
    }


@functools.cache
def asset_document_schema() -> dict[str, Any]:
    """JSON Schema (2020-12, as OpenAPI 3.1 uses) of one asset document."""
    names = list(dict.fromkeys(s.name for s in all_interfaces()))
    newest = {name: spec for spec in all_interfaces() for name in names if spec.name == name}
    return {
        "title": "AssetDocument",
        "description": (
            "An asset document (seed 002 §6 plus runtime): one variant per interface, and one "
            "for a list of interfaces. The catalog's validator judges it (422 naming the field)."
        ),
        "anyOf": [*(_variant(newest[name]) for name in names), _variant(None)],
    }
