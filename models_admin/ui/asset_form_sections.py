"""The structured tab's fields of the asset form, generated from the interface specs and the
runtime kinds' adapter config models: interfaces and their metadata, the runtime, lifecycle and
resources."""

from __future__ import annotations

from typing import Any

from django import forms

from models_admin.interfaces import InterfaceSpec, all_interfaces
from models_admin.ui.form_fields import (
    ArgvField,
    EnvField,
    InterfacePicks,
    NumberField,
    field_name,
    label_of,
    metadata_field,
    select,
)
from models_admin.validation import DESIRED_STATES
from runtimes import registry

_RUNTIME_LABELS = {
    "model": "Model",
    "base_url": "Base URL",
    "host": "Host",
    "api_key_env": "API key from environment variable",
    "api_key_file": "API key from file",
}


def interface_fields(specs: list[InterfaceSpec]) -> tuple[dict[str, forms.Field], list[str]]:
    """The interface picker and each picked interface's metadata fields (and their names)."""
    fields: dict[str, forms.Field] = {}
    choices = [(s.name, f"{s.name} — {s.description}") for s in _latest_interfaces()]
    fields["interface"] = InterfacePicks(
        label="Interface",
        required=False,
        widget=forms.CheckboxSelectMultiple(choices=choices),
        help_text="What the model serves; pick more than one for a model that does both.",
    )
    metadata_names: list[str] = []
    for spec in specs:
        for field in spec.metadata:
            if field.name not in metadata_names:
                metadata_names.append(field.name)
                fields[field_name(f"metadata.{field.name}")] = metadata_field(field)
    return fields, metadata_names


def runtime_fields(kind: str | None, may_launch: bool) -> tuple[dict[str, forms.Field], list[str]]:
    """The runtime-kind picker and the chosen kind's config fields (launch ones hidden from non-admins)."""
    fields: dict[str, forms.Field] = {}
    kinds = [("", "None — catalogued only, not routable")]
    for each in registry.runtime_kinds():
        served = ", ".join(sorted(registry.capabilities_of(each)))
        kinds.append((each, f"{each} ({served}{'; launchable' if registry.is_launchable(each) else ''})"))
    fields[field_name("runtime.kind")] = forms.CharField(
        label="Runtime kind",
        required=False,
        widget=select(kinds),
        help_text="How the hub reaches the model.",
    )
    runtime_names: list[str] = []
    if kind is None:
        return fields, runtime_names
    for name, info in registry.config_model(kind).model_fields.items():
        if name in ("kind", "launch"):
            continue
        runtime_names.append(name)
        label = _RUNTIME_LABELS.get(name, label_of(name))
        fields[field_name(f"runtime.{name}")] = forms.CharField(
            label=label + (" (required)" if info.is_required() else ""),
            required=False,
            help_text=(info.description or "").capitalize(),
        )
    if registry.is_launchable(kind):
        # Non-admins carry the current launch in hidden inputs: an edit keeps it unchanged.
        widget = None if may_launch else forms.HiddenInput
        fields[field_name("runtime.launch.command")] = ArgvField(
            label="Launch command",
            required=False,
            help_text="A process the hub starts, e.g. llama-server -m /models/x.gguf (the launcher adds "
            "host and port). Never run by a shell; the executable must be on the allow-list.",
            widget=widget,
        )
        fields[field_name("runtime.launch.env")] = EnvField(
            label="Launch environment",
            required=False,
            help_text="NAME=value pairs, space-separated.",
            widget=widget,
        )
        fields[field_name("runtime.launch.ready_timeout_s")] = NumberField(
            label="Ready timeout (s)", required=False, help_text="Empty: 300.", widget=widget
        )
    return fields, runtime_names


def lifecycle_fields(specs: list[InterfaceSpec]) -> dict[str, forms.Field]:
    """Desired state, auto-sleep, concurrency and resources, with the first interface's defaults as help."""
    fields: dict[str, forms.Field] = {}
    lifecycle = specs[0].lifecycle_defaults if specs else {}
    policy = specs[0].policy_defaults if specs else {}
    default = f"Interface default ({lifecycle['desired']})" if "desired" in lifecycle else "Interface default"
    fields[field_name("lifecycle.desired")] = forms.CharField(
        label="Desired state",
        required=False,
        widget=select([("", default), *((s, s) for s in DESIRED_STATES)]),
        help_text="running: always up; on-demand: woken by a request, slept when idle; stopped.",
    )
    fields[field_name("lifecycle.auto_sleep_min")] = forms.IntegerField(
        label="Auto-sleep after (min)",
        required=False,
        help_text=_default_help(lifecycle, "auto_sleep_min", "0: never"),
    )
    fields[field_name("policy.max_concurrency")] = forms.IntegerField(
        label="Max concurrency",
        required=False,
        help_text=_default_help(policy, "max_concurrency", "requests at once"),
    )
    fields[field_name("resources.gpu_required")] = forms.BooleanField(label="Needs a GPU", required=False)
    fields[field_name("resources.min_vram_gb")] = NumberField(label="Min VRAM (GB)", required=False)
    fields[field_name("resources.min_ram_gb")] = NumberField(label="Min RAM (GB)", required=False)
    fields[field_name("resources.disk_gb")] = NumberField(label="Disk (GB)", required=False)
    return fields


def _default_help(defaults: dict[str, Any], key: str, meaning: str) -> str:
    if key in defaults:
        return f"Empty: the interface default, {defaults[key]} ({meaning})."
    return f"Empty: the interface default ({meaning})."


def _latest_interfaces() -> list[InterfaceSpec]:
    """One spec per interface name (its newest version), in registry order."""
    latest: dict[str, InterfaceSpec] = {}
    for spec in all_interfaces():
        latest[spec.name] = spec
    return list(latest.values())
