"""The asset form of Hub-UI: pickers generated from the interface specs and runtime kinds, and a YAML tab.

Both tabs make one asset document, which the view hands to the same service as the API and the
commands (``do_create_draft``); no rule lives here. The form parses what a browser
sends (numbers, argv, YAML), builds the document, and puts each validation error on the input
that edits its field path (``metadata.embedding_dim`` → ``metadata__embedding_dim``); a path
with no visible input goes to the form-level list.

The structured tab shows the fields of the chosen interfaces (from ``interface_specs/``) and of
the chosen runtime kind (its adapter's config model in ``runtimes.registry``). What it does not
edit (``interface_version``, ``class``, metadata keys no interface declares) rides along in a
hidden JSON copy of the document it was drawn from (``base``), so switching tabs or re-drawing the
pickers keeps the whole document.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from django import forms

from models_admin.asset_ids import ASSET_ID_MAX, ASSET_ID_RULE
from models_admin.interfaces import InterfaceSpec, all_interfaces, get_interface
from models_admin.ui.asset_form_sections import interface_fields, lifecycle_fields, runtime_fields
from models_admin.ui.form_fields import (
    SEP,
    ArgvField,
    field_name,
)
from models_admin.validation import AssetValidationError, FieldError
from models_admin.yaml_io import DocumentLoadError, dump_document, parse_document
from runtimes import registry

TABS = ("form", "yaml")
LAUNCH = "runtime__launch__"
PICKERS = ("interface", "runtime__kind")  # changing one redraws the fields that depend on it
# Metadata keys some interface declares: the structured tab owns them (shows or drops them).
_SPEC_KEYS = frozenset(f.name for s in all_interfaces() for f in s.metadata)
_INDEX = re.compile(r"\[\d+\]")


@dataclass
class Section:
    """A fieldset of the structured tab."""

    key: str
    legend: str
    fields: list[forms.BoundField]
    note: str = ""


class AssetForm(forms.Form):
    """Create or edit one asset document, on the structured tab (``form``) or as YAML (``yaml``).

    ``document`` is what the page shows first (unbound) and what ``base`` and a disabled
    ``asset_id`` fall back to (bound). ``may_launch`` says whether the person may edit
    ``runtime.launch`` (``governance.may_change_launch``): otherwise its inputs are hidden and
    carry the current value, and the service refuses any change to them.
    """

    pickers = PICKERS
    editor = forms.ChoiceField(choices=[(t, t) for t in TABS], widget=forms.HiddenInput, required=False)
    document = forms.CharField(
        label="Asset document (YAML)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "false"}),
        help_text="The whole document; the form tab edits the same one.",
    )
    base = forms.CharField(widget=forms.HiddenInput, required=False)
    asset_id = forms.CharField(
        label="Asset id",
        max_length=ASSET_ID_MAX,
        required=False,
        # Checked by the validator with the rest of the document, so every error shows at once.
        help_text=f"Asset id {ASSET_ID_RULE}.",
    )
    display_name = forms.CharField(label="Display name", required=False)
    version = forms.CharField(label="Version", required=False)
    description = forms.CharField(
        label="Description", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(
        self,
        data: Any = None,
        *,
        document: dict[str, Any] | None = None,
        tab: str = "form",
        editing: bool = False,
        may_launch: bool = False,
    ) -> None:
        document = document if document is not None else {}
        self.start = document
        self.may_launch = may_launch
        if data is not None:
            # A post says which tab it came from; one without (a script) is YAML if it has a document.
            tab = data.get("editor") or ("yaml" if "document" in data else "form")
            super().__init__(data, initial={"asset_id": document.get("asset_id", "")})
        else:
            super().__init__(initial=self._initial(document, tab))
        self.tab = tab if tab in TABS else "form"
        posted = data if data is not None and self.tab == "form" else None
        if editing:
            self.fields["asset_id"].disabled = True
            self.fields["asset_id"].help_text = "Ids cannot change once created."
        self.specs = self._picked_interfaces(posted, document)
        self.kind = self._picked_kind(posted, document)
        picked, self.metadata_names = interface_fields(self.specs)
        runtime, self.runtime_names = runtime_fields(self.kind, self.may_launch)
        self.fields.update({**picked, **runtime, **lifecycle_fields(self.specs)})

    # ---- which fields -----------------------------------------------------------------------

    @staticmethod
    def _picked_interfaces(posted: Any, document: dict[str, Any]) -> list[InterfaceSpec]:
        """The interfaces whose metadata the tab shows: as posted on the form tab, else the document's."""
        if posted is not None:
            names: Any = (
                posted.getlist("interface") if hasattr(posted, "getlist") else posted.get("interface")
            )
        else:
            names = document.get("interface")
        names = names if isinstance(names, list) else [names]
        specs: list[InterfaceSpec] = []
        for name in names:
            spec = get_interface(str(name).split(":", 1)[0]) if name else None
            if spec is not None and spec not in specs:
                specs.append(spec)
        return specs

    @staticmethod
    def _picked_kind(posted: Any, document: dict[str, Any]) -> str | None:
        if posted is not None:
            kind = posted.get(field_name("runtime.kind"))
        else:
            runtime = document.get("runtime")
            kind = runtime.get("kind") if isinstance(runtime, dict) else None
        return kind if kind in registry.runtime_kinds() else None

    # ---- initial values ---------------------------------------------------------------------

    @staticmethod
    def _initial(doc: dict[str, Any], tab: str) -> dict[str, Any]:
        initial: dict[str, Any] = {
            "editor": tab if tab in TABS else "form",
            "document": dump_document(doc),
            "base": json.dumps(doc, default=str, ensure_ascii=False),
            "interface": doc.get("interface")
            if isinstance(doc.get("interface"), list)
            else [doc.get("interface")],
        }
        for key in ("asset_id", "display_name", "version", "description"):
            initial[key] = doc.get(key, "")
        for block in ("metadata", "lifecycle", "policy", "resources", "runtime"):
            values = doc.get(block)
            for key, value in values.items() if isinstance(values, dict) else ():
                initial[field_name(f"{block}.{key}")] = value
        runtime = doc.get("runtime")
        launch = runtime.get("launch") if isinstance(runtime, dict) else None
        for key, value in launch.items() if isinstance(launch, dict) else ():
            initial[field_name(f"runtime.launch.{key}")] = value
        return initial

    # ---- parsing ----------------------------------------------------------------------------

    def clean_document(self) -> dict[str, Any] | None:
        if self.tab != "yaml":
            return None
        try:
            doc = parse_document(self.cleaned_data["document"], "document")
        except DocumentLoadError as exc:
            raise forms.ValidationError(str(exc)) from exc
        if doc is None:
            doc = {}
        if not isinstance(doc, dict):
            raise forms.ValidationError("The document must be a YAML mapping (key: value lines).")
        return doc

    def clean_base(self) -> dict[str, Any]:
        text = self.cleaned_data["base"]
        if self.tab != "form" or not text:
            return dict(self.start)
        try:
            # JSON is YAML: read with the same limits (size, nesting, no aliases) as the YAML tab.
            base = parse_document(text, "base")
        except DocumentLoadError:
            base = None
        if not isinstance(base, dict):
            raise forms.ValidationError("The page's copy of the document is damaged; reload the page.")
        return base

    def document_data(self) -> dict[str, Any]:
        """The asset document this post makes (call after ``is_valid``)."""
        if self.tab == "yaml":
            doc = dict(self.cleaned_data["document"])
            if not self.data.get("editor"):
                # A post without a tab (a script written for the older page) may name these beside
                # the document; they override the same keys, as they did there.
                for key in ("asset_id", "display_name", "version"):
                    _put(doc, key, self.cleaned_data.get(key) or doc.get(key))
            return doc
        return self._structured_document()

    def _structured_document(self) -> dict[str, Any]:
        data = self.cleaned_data
        doc = dict(data["base"])
        for key in ("asset_id", "display_name", "version", "description"):
            _put(doc, key, data.get(key))
        names = data.get("interface") or []
        _put(doc, "interface", names[0] if len(names) == 1 else names)
        kept = doc.get("metadata")
        metadata = {k: v for k, v in kept.items() if k not in _SPEC_KEYS} if isinstance(kept, dict) else {}
        for name in self.metadata_names:
            _put(metadata, name, data.get(field_name(f"metadata.{name}")))
        _put(doc, "metadata", metadata)
        for block, keys in (
            ("lifecycle", ("desired", "auto_sleep_min")),
            ("policy", ("max_concurrency",)),
            ("resources", ("gpu_required", "min_vram_gb", "min_ram_gb", "disk_gb")),
        ):
            values: dict[str, Any] = {}
            for key in keys:
                _put(values, key, data.get(field_name(f"{block}.{key}")))
            _put(doc, block, values)
        _put(doc, "runtime", self._runtime(data))
        return doc

    def _runtime(self, data: dict[str, Any]) -> dict[str, Any] | None:
        kind = data.get(field_name("runtime.kind"))
        if not kind:
            return None
        runtime: dict[str, Any] = {"kind": kind}
        for name in self.runtime_names:
            _put(runtime, name, data.get(field_name(f"runtime.{name}")))
        launch: dict[str, Any] = {}
        for key in ("command", "env", "ready_timeout_s"):
            _put(launch, key, data.get(field_name(f"runtime.launch.{key}")))
        _put(runtime, "launch", launch)
        return runtime

    # ---- errors -----------------------------------------------------------------------------

    def add_validation_errors(self, exc: AssetValidationError) -> None:
        """Attach each shared-validation error to the input that edits its path."""
        for error in exc.errors:
            self.add_field_error(error)

    def add_field_error(self, error: FieldError) -> None:
        if self.tab == "yaml":
            self.add_error("document", str(error))
            return
        name = field_name(_INDEX.sub("", error.path))
        if name in self.fields and not self.fields[name].widget.is_hidden:
            self.add_error(name, error.message)
            return
        # A parent path ("runtime.launch") goes on its first visible input, with the path said.
        child = next(
            (n for n, f in self.fields.items() if n.startswith(name + SEP) and not f.widget.is_hidden), None
        )
        if error.path and child is not None:
            self.add_error(child, str(error))
        else:
            self.add_error(None, str(error))

    # ---- presentation -----------------------------------------------------------------------

    def form_level_errors(self) -> list[str]:
        """Errors with no visible input: the form's own, and those of hidden inputs (by path)."""
        errors = [str(e) for e in self.non_field_errors()]
        for field in self.hidden_fields():
            errors.extend(f"{field.name.replace(SEP, '.')}: {e}" for e in field.errors)
        return errors

    def sections(self) -> list[Section]:
        """The structured tab's fieldsets, in page order (hidden inputs are not in them)."""

        def visible(*names: str) -> list[forms.BoundField]:
            return [self[n] for n in names if n in self.fields and not self.fields[n].widget.is_hidden]

        sections = [
            Section("identity", "Asset", visible("asset_id", "display_name", "version", "description")),
            Section("interfaces", "Interfaces", visible("interface")),
        ]
        shown: set[str] = set()
        for spec in self.specs:
            names = [n for f in spec.metadata if (n := field_name(f"metadata.{f.name}")) not in shown]
            shown.update(names)
            sections.append(Section(f"metadata-{spec.name}", f"{spec.name} metadata", visible(*names)))
        runtime = visible(
            *(n for n in self.fields if n.startswith(field_name("runtime.")) and not n.startswith(LAUNCH))
        )
        launch = visible(*(n for n in self.fields if n.startswith(LAUNCH)))
        note = ""
        if self.kind is not None and registry.is_launchable(self.kind) and not launch:
            note = "Only an admin may set how the hub launches this runtime."
            command = self[field_name("runtime.launch.command")].value()
            if command:
                note += f" It launches: {ArgvField().prepare_value(command)}"
        sections.append(Section("runtime", "Runtime", runtime + launch, note))
        sections.append(
            Section(
                "lifecycle",
                "Lifecycle, policy and resources",
                visible(*(n for n in self.fields if n.split(SEP)[0] in ("lifecycle", "policy", "resources"))),
            )
        )
        return sections

    def carried(self) -> list[forms.BoundField]:
        """Hidden inputs of the structured tab: the base document and, for non-admins, the launch."""
        return [
            self[n]
            for n in self.fields
            if n not in ("editor", "document") and self.fields[n].widget.is_hidden
        ]


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key``, or remove it for an empty input ("", None, [], {})."""
    if value is None or value == "" or value == [] or value == {}:
        target.pop(key, None)
    else:
        target[key] = value
