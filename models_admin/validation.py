"""Validation of asset documents: the one place the rules live.

Forms, the API and the management commands all call :func:`validate_asset_document`.
It returns the *normalized* document (interface defaults applied, keys in canonical
order), which is what the catalog stores and exports, or raises
:class:`AssetValidationError` listing every problem as ``field.path: message``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from models_admin import limits
from models_admin.asset_ids import ASSET_ID_RULE, is_asset_id
from models_admin.documents import (
    LAUNCH_KEYS,
    LIFECYCLE_KEYS,
    MAX_QUEUE,
    MAX_QUEUE_TIMEOUT_S,
    POLICY_KEYS,
    RESOURCE_KEYS,
    RUNTIME_KEYS,
    TOP_LEVEL_KEYS,
)
from models_admin.interfaces import InterfaceSpec, MetadataField, get_interface, interface_names
from runtimes import registry, upstream
from runtimes.launch_policy import executable_problem

HOST_RE = re.compile(r"\A[a-z0-9][a-z0-9._-]{0,62}\Z")
ENV_NAME_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
DESIRED_STATES = ("running", "on-demand", "stopped")
ASSET_CLASSES = ("model",)
MAX_TEXT = 200


@dataclass(frozen=True)
class FieldError:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class AssetValidationError(ValueError):
    """One or more field errors in an asset document."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Validator:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def mapping(self, value: Any, path: str, allowed: tuple[str, ...]) -> dict[str, Any] | None:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.error(path, "must be a mapping")
            return None
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                self.error(
                    f"{path}.{key}" if path else str(key), f"unknown field; allowed: {', '.join(allowed)}"
                )
        return value

    def text(self, value: Any, path: str, *, required: bool, max_len: int = MAX_TEXT) -> str | None:
        if value is None:
            if required:
                self.error(path, "required")
            return None
        if not isinstance(value, str):
            hint = ' (quote it, e.g. "1.0")' if _is_number(value) else ""
            self.error(path, f"must be a string{hint}")
            return None
        text = str(value).strip()
        if required and not text:
            self.error(path, "must not be empty")
            return None
        if "\x00" in text:
            self.error(path, "must not contain NUL characters")
            return None
        if len(value) > max_len:  # as given (the published schema's maxLength), not stripped
            self.error(path, f"must be at most {max_len} characters")
            return None
        return text

    def integer(self, value: Any, path: str, *, minimum: int | None = None) -> int | None:
        if not _is_int(value):
            self.error(path, "must be an integer")
            return None
        if minimum is not None and value < minimum:
            self.error(path, f"must be ≥ {minimum}")
            return None
        if value > 2**31 - 1:
            self.error(path, f"must be ≤ {2**31 - 1}")
            return None
        return int(value)

    def number(self, value: Any, path: str, *, minimum: float = 0) -> float | int | None:
        if not _is_number(value):
            self.error(path, "must be a number")
            return None
        if value < minimum:
            self.error(path, f"must be ≥ {minimum:g}")
            return None
        if value > 2**31 - 1:
            self.error(path, f"must be ≤ {2**31 - 1}")
            return None
        number: float | int = value
        return number

    def boolean(self, value: Any, path: str) -> bool | None:
        if not isinstance(value, bool):
            self.error(path, "must be true or false")
            return None
        return value


def _interfaces(v: _Validator, raw: Any) -> list[InterfaceSpec]:
    known = interface_names()
    if raw is None:
        v.error("interface", f"required; one of {', '.join(known)} (or a list of them)")
        return []
    names = raw if isinstance(raw, list) else [raw]
    if not names:
        v.error("interface", "must name at least one interface")
        return []
    specs: list[InterfaceSpec] = []
    for index, name in enumerate(names):
        path = f"interface[{index}]" if isinstance(raw, list) else "interface"
        if not isinstance(name, str):
            v.error(path, "must be a string")
            continue
        base = name.split(":", 1)[0]
        spec = get_interface(base)
        if spec is None:
            v.error(path, f"unknown interface {name!r}; known: {', '.join(known)}")
        elif spec in specs:
            v.error(path, f"{base} is listed twice")
        else:
            specs.append(spec)
    return specs


def _metadata_value(v: _Validator, field: MetadataField, value: Any, path: str) -> Any:
    checks: dict[str, Callable[[], Any]] = {
        "int": lambda: v.integer(value, path, minimum=int(field.min) if field.min is not None else None),
        "float": lambda: v.number(value, path, minimum=field.min or 0),
        "str": lambda: v.text(value, path, required=True, max_len=500),
        "bool": lambda: v.boolean(value, path),
        "list": lambda: value if isinstance(value, list) else v.error(path, "must be a list"),
    }
    result = checks[field.type]()
    if result is not None and field.choices and result not in field.choices:
        v.error(path, f"must be one of {', '.join(field.choices)}")
        return None
    return result


def _metadata(v: _Validator, raw: Any, specs: list[InterfaceSpec], version: str) -> dict[str, Any]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        v.error("metadata", "must be a mapping")
        return {}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key:
            v.error("metadata", "keys must be non-empty strings")
            continue
        field = next((f for s in specs if (f := s.metadata_field(key))), None)
        out[key] = value if field is None else _metadata_value(v, field, value, f"metadata.{key}")
    for spec in specs:
        for field in spec.metadata:
            if field.required and raw.get(field.name) is None:
                v.error(f"metadata.{field.name}", f"required for {spec.name}:{version}")
    return out


def _runtime(v: _Validator, raw: Any, specs: list[InterfaceSpec]) -> dict[str, Any] | None:
    if raw is None:
        return None
    doc = v.mapping(raw, "runtime", RUNTIME_KEYS)
    if doc is None:
        return None
    out: dict[str, Any] = {}
    kinds = registry.runtime_kinds()
    kind = doc.get("kind")
    if kind is None:
        v.error("runtime.kind", f"required; one of {', '.join(kinds)}")
    elif kind not in kinds:
        v.error("runtime.kind", f"must be one of {', '.join(kinds)}")
        kind = None
    else:
        out["kind"] = kind
        served = registry.capabilities_of(kind)
        for spec in specs:
            if spec.capability not in served:
                v.error("runtime.kind", f"{kind} cannot serve {spec.name}")
    model = v.text(doc.get("model"), "runtime.model", required=True, max_len=300)
    if model is not None:
        out["model"] = model
    base_url = v.text(doc.get("base_url"), "runtime.base_url", required=False, max_len=500)
    if base_url is not None:
        problem = upstream.base_url_problem(base_url, settings.HUB_RUNTIME_ALLOWED_NETWORKS)
        if problem is not None:
            v.error("runtime.base_url", problem)
        else:
            out["base_url"] = base_url.rstrip("/")
    host = doc.get("host")
    if host is not None:
        if not isinstance(host, str) or not HOST_RE.match(host):
            v.error("runtime.host", "must be a host name: lowercase letters, digits, '.', '-' or '_'")
        else:
            out["host"] = host
    launch = _launch(v, doc.get("launch"))
    if launch is not None:
        out["launch"] = launch
        if kind is not None and not registry.is_launchable(kind):
            v.error("runtime.launch", f"{kind} runtimes cannot be launched by the hub; give runtime.base_url")
    if kind is not None and "base_url" not in out and "launch" not in doc:
        v.error("runtime", "give base_url (a running server) or launch (a process the hub starts)")
    for key in ("api_key_env", "api_key_file"):
        value = doc.get(key)
        if value is None:
            continue
        if kind is not None and not registry.accepts_api_key(kind):
            v.error(f"runtime.{key}", f"{kind} runtimes take no API key")
        elif key == "api_key_env" and (problem := upstream.api_key_env_problem(value)):
            v.error("runtime.api_key_env", problem)
        elif key == "api_key_file" and (
            problem := upstream.api_key_file_problem(value, settings.HUB_RUNTIME_SECRETS_DIR)
        ):
            v.error("runtime.api_key_file", problem)
        else:
            out[key] = value
    return out


def _launch(v: _Validator, raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    doc = v.mapping(raw, "runtime.launch", LAUNCH_KEYS)
    if doc is None:
        return None
    out: dict[str, Any] = {}
    command = doc.get("command")
    if not isinstance(command, list) or not command or not all(isinstance(c, str) and c for c in command):
        v.error(
            "runtime.launch.command",
            "must be a non-empty list of strings, e.g. [llama-server, -m, /models/x.gguf]",
        )
    elif problem := executable_problem(command, settings.HUB_LAUNCH_ALLOWED_EXECUTABLES):
        v.error("runtime.launch.command", problem)
    else:
        out["command"] = list(command)
    env = doc.get("env") or {}
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and ENV_NAME_RE.match(k) and isinstance(val, str) for k, val in env.items()
    ):
        v.error("runtime.launch.env", "must map environment variable names to strings")
    else:
        out["env"] = dict(env)
    timeout = doc.get("ready_timeout_s", 300)
    checked = v.number(timeout, "runtime.launch.ready_timeout_s", minimum=1)
    if checked is not None:
        out["ready_timeout_s"] = checked
    return out


def validate_asset_document(raw: Any) -> dict[str, Any]:
    """Validate one asset document and return it normalized.

    Raises :class:`AssetValidationError` with every problem found (not just the first).
    Touches neither the database nor the network; reads the launch and upstream settings
    (``HUB_LAUNCH_ALLOWED_EXECUTABLES``, ``HUB_RUNTIME_*``).
    """
    v = _Validator()
    if not isinstance(raw, dict):
        raise AssetValidationError([FieldError("", "an asset document must be a mapping")])
    too_big = limits.document_problem(raw)
    if too_big is not None:
        raise AssetValidationError([FieldError(*too_big)])
    doc = v.mapping(raw, "", TOP_LEVEL_KEYS) or {}

    out: dict[str, Any] = {}
    asset_id = doc.get("asset_id")
    if asset_id is None:
        v.error("asset_id", "required")
    elif not is_asset_id(asset_id):
        v.error("asset_id", ASSET_ID_RULE)
    else:
        out["asset_id"] = asset_id
    out["display_name"] = v.text(doc.get("display_name"), "display_name", required=True)
    out["version"] = v.text(doc.get("version"), "version", required=True, max_len=64)
    description = v.text(doc.get("description"), "description", required=False, max_len=2000)
    if description:
        out["description"] = description

    specs = _interfaces(v, doc.get("interface"))
    names = [s.name for s in specs]
    out["interface"] = names[0] if isinstance(doc.get("interface"), str) and names else names
    version = doc.get("interface_version", specs[0].version if specs else "v1")
    if not isinstance(version, str):
        v.error("interface_version", "must be a string such as v1")
        version = "v1"
    for spec in specs:
        if get_interface(spec.name, version) is None:
            v.error("interface_version", f"{spec.name} has no version {version!r}")
    out["interface_version"] = version

    asset_class = doc.get("class", "model")
    if asset_class not in ASSET_CLASSES:
        v.error("class", f"must be one of {', '.join(ASSET_CLASSES)}")
    out["class"] = asset_class

    resources_in = v.mapping(doc.get("resources"), "resources", RESOURCE_KEYS) or {}
    resources: dict[str, Any] = {"gpu_required": False}
    if "gpu_required" in resources_in:
        resources["gpu_required"] = v.boolean(resources_in["gpu_required"], "resources.gpu_required")
    for key in ("min_vram_gb", "min_ram_gb", "disk_gb"):
        if resources_in.get(key) is not None:
            resources[key] = v.number(resources_in[key], f"resources.{key}", minimum=0)
    out["resources"] = resources

    defaults = specs[0] if specs else None
    lifecycle_in = v.mapping(doc.get("lifecycle"), "lifecycle", LIFECYCLE_KEYS) or {}
    lifecycle = dict(defaults.lifecycle_defaults) if defaults else {}
    if "desired" in lifecycle_in:
        desired = lifecycle_in["desired"]
        if desired not in DESIRED_STATES:
            v.error("lifecycle.desired", f"must be one of {', '.join(DESIRED_STATES)}")
        lifecycle["desired"] = desired
    if "auto_sleep_min" in lifecycle_in:
        lifecycle["auto_sleep_min"] = v.integer(
            lifecycle_in["auto_sleep_min"], "lifecycle.auto_sleep_min", minimum=0
        )
    out["lifecycle"] = lifecycle

    policy_in = v.mapping(doc.get("policy"), "policy", POLICY_KEYS) or {}
    policy = dict(defaults.policy_defaults) if defaults else {}
    if "max_concurrency" in policy_in:
        policy["max_concurrency"] = v.integer(
            policy_in["max_concurrency"], "policy.max_concurrency", minimum=1
        )
    if "max_queue" in policy_in:
        queue = v.integer(policy_in["max_queue"], "policy.max_queue", minimum=0)
        if queue is not None and queue > MAX_QUEUE:
            v.error("policy.max_queue", f"must be ≤ {MAX_QUEUE}")
        policy["max_queue"] = queue
    if "queue_timeout_s" in policy_in:
        timeout = v.number(policy_in["queue_timeout_s"], "policy.queue_timeout_s", minimum=0)
        if timeout is not None and timeout > MAX_QUEUE_TIMEOUT_S:
            v.error("policy.queue_timeout_s", f"must be ≤ {MAX_QUEUE_TIMEOUT_S:g}")
        policy["queue_timeout_s"] = timeout
    out["policy"] = policy

    out["metadata"] = _metadata(v, doc.get("metadata"), specs, version)
    runtime = _runtime(v, doc.get("runtime"), specs)
    if runtime is not None:
        out["runtime"] = runtime

    if v.errors:
        raise AssetValidationError(v.errors)
    return out
