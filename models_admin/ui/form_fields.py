"""Form fields of the asset form: numbers, comma lists, argv and env lines, interface picks,
and one field per interface metadata declaration."""

from __future__ import annotations

import shlex
from typing import Any

from django import forms

from models_admin.interfaces import MetadataField

SEP = "__"  # form field names are document paths with "." spelled "__" (HTML ids stay selector-safe)
_ACRONYMS = {"id", "gpu", "url", "qps", "vram", "gb"}


def field_name(path: str) -> str:
    return path.replace(".", SEP)


def number(value: float | None) -> float | int | None:
    """Whole numbers stay ints, so a document round-trips through the form unchanged."""
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


class NumberField(forms.FloatField):
    def to_python(self, value: Any) -> float | int | None:  # type: ignore[override]
        return number(super().to_python(value))


class ListField(forms.CharField):
    """Comma-separated values → a list of strings."""

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(str(v) for v in value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str] | None:  # type: ignore[override]
        text = super().to_python(value)
        items = [part.strip() for part in text.split(",") if part.strip()] if text else []
        return items or None


class ArgvField(forms.CharField):
    """A command line split as a POSIX shell would split it (it is never run by one) → argv."""

    def prepare_value(self, value: Any) -> Any:
        return shlex.join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str] | None:  # type: ignore[override]
        text = super().to_python(value)
        try:
            argv = shlex.split(text) if text else []
        except ValueError as exc:
            raise forms.ValidationError(f"cannot split into arguments: {exc}") from None
        return argv or None


class EnvField(ArgvField):
    """``NAME=value`` pairs separated by spaces (quote values with spaces) → a mapping."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return shlex.join(f"{k}={v}" for k, v in value.items())
        return value

    def to_python(self, value: Any) -> dict[str, str] | None:  # type: ignore[override]
        pairs = super().to_python(value) or []
        bad = [p for p in pairs if "=" not in p]
        if bad:
            raise forms.ValidationError(f"write NAME=value, not {bad[0]!r}")
        return dict(p.split("=", 1) for p in pairs) or None


class InterfacePicks(forms.Field):
    """The chosen interface names, as posted (the validator checks them)."""

    widget = forms.CheckboxSelectMultiple

    def to_python(self, value: Any) -> list[str]:
        if value in (None, ""):
            return []
        return [str(v) for v in (value if isinstance(value, list | tuple) else [value])]


def label_of(name: str) -> str:
    """``embedding_dim`` → "Embedding dim", ``gpu_required`` → "GPU required"."""
    words = [w.upper() if w in _ACRONYMS else w for w in name.split("_")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def select(choices: list[tuple[str, str]]) -> forms.Select:
    return forms.Select(choices=choices)


def metadata_field(field: MetadataField) -> forms.Field:
    """An input for one metadata field of an interface spec: typed, labelled, with its help."""
    label = label_of(field.name)
    options: dict[str, Any] = {"label": label, "required": False, "help_text": field.help}
    if field.type == "int":
        return forms.IntegerField(**options)
    if field.type == "float":
        return NumberField(**options)
    if field.type == "bool":
        return forms.NullBooleanField(**options)
    if field.type == "list":
        options["help_text"] = f"{field.help} Comma-separated.".strip()
        return ListField(**options)
    if field.choices:
        return forms.CharField(widget=select([("", "—"), *((c, c) for c in field.choices)]), **options)
    return forms.CharField(**options)
