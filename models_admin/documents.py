"""The asset document's shape: its keys in reading order, and the pure functions over a
document (its interfaces, canonical key order, flattened paths, field-level diff)."""

from __future__ import annotations

from typing import Any

TOP_LEVEL_KEYS = (
    "asset_id",
    "display_name",
    "version",
    "description",
    "interface",
    "interface_version",
    "class",
    "resources",
    "lifecycle",
    "policy",
    "metadata",
    "runtime",
)
RESOURCE_KEYS = ("gpu_required", "min_vram_gb", "min_ram_gb", "disk_gb")
LIFECYCLE_KEYS = ("desired", "auto_sleep_min")
POLICY_KEYS = ("max_concurrency", "max_queue", "queue_timeout_s")
# The gateway's queue (runtimes/gateway/queue.py): how many requests may wait for a slot, and
# how long. Omitted: QUEUE_FACTOR x max_concurrency, DEFAULT_QUEUE_TIMEOUT_S.
QUEUE_FACTOR = 4
DEFAULT_QUEUE_TIMEOUT_S = 30.0
MAX_QUEUE = 10_000
MAX_QUEUE_TIMEOUT_S = 3600.0
RUNTIME_KEYS = ("kind", "model", "base_url", "host", "launch", "api_key_env", "api_key_file")
LAUNCH_KEYS = ("command", "env", "ready_timeout_s")


def document_interfaces(doc: dict[str, Any]) -> list[str]:
    """The interface names of a normalized document, always as a list."""
    value = doc["interface"]
    return [value] if isinstance(value, str) else list(value)


def flatten(doc: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``; lists stay whole (they are values)."""
    if not isinstance(doc, dict):
        return {prefix: doc}
    out: dict[str, Any] = {}
    for key, value in doc.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(flatten(value, path))
        else:
            out[path] = value
    return out


def diff_documents(old: dict[str, Any] | None, new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Field-level changes from ``old`` to ``new`` as ``(path, old, new)``; missing is None."""
    before = flatten(old or {})
    after = flatten(new)
    paths = list(dict.fromkeys([*after, *before]))
    return [(p, before.get(p), after.get(p)) for p in paths if before.get(p) != after.get(p)]


_NESTED_ORDER = {
    "resources": RESOURCE_KEYS,
    "lifecycle": LIFECYCLE_KEYS,
    "policy": POLICY_KEYS,
    "runtime": RUNTIME_KEYS,
}


def _ordered(doc: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    known = {k: doc[k] for k in keys if k in doc}
    rest = {k: doc[k] for k in sorted(doc) if k not in known}
    return {**known, **rest}


def canonical(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with keys in the order people read them (PostgreSQL's jsonb sorts them)."""
    out = _ordered(doc, TOP_LEVEL_KEYS)
    for key, order in _NESTED_ORDER.items():
        if isinstance(out.get(key), dict):
            out[key] = _ordered(out[key], order)
    runtime = out.get("runtime")
    if isinstance(runtime, dict) and isinstance(runtime.get("launch"), dict):
        runtime["launch"] = _ordered(runtime["launch"], LAUNCH_KEYS)
    if isinstance(out.get("metadata"), dict):
        out["metadata"] = _ordered(out["metadata"], ())
    return out


def queue_policy(policy: dict[str, Any]) -> tuple[int | None, int, float]:
    """``(max_concurrency, max_queue, queue_timeout_s)`` of a validated policy, defaults applied."""
    limit = policy.get("max_concurrency")
    max_concurrency = int(limit) if limit else None
    queue = policy.get("max_queue")
    max_queue = int(queue) if queue is not None else QUEUE_FACTOR * (max_concurrency or 0)
    timeout = policy.get("queue_timeout_s")
    return max_concurrency, max_queue, float(timeout) if timeout is not None else DEFAULT_QUEUE_TIMEOUT_S
