"""Hub-UI forms. They parse; the rules live in ``models_admin.validation`` and the services.

:class:`AssetForm` is a YAML document plus a few structured fields that override it, so
a person can edit the common fields without touching YAML. Validation errors from the
shared validator are attached to the field they name (or to the YAML field, with the
path, for everything else).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import RegexValidator

from models_admin.asset_ids import ASSET_ID_MAX, ASSET_ID_RE, ASSET_ID_RULE
from models_admin.roles import ROLES
from models_admin.validation import DESIRED_STATES, AssetValidationError, FieldError
from models_admin.yaml_io import DocumentLoadError, dump_document, parse_document

# Document path -> form field that edits it.
STRUCTURED = {
    "asset_id": "asset_id",
    "display_name": "display_name",
    "version": "version",
    "lifecycle.desired": "desired",
    "policy.max_concurrency": "max_concurrency",
}


class AssetForm(forms.Form):
    asset_id = forms.CharField(
        label="Asset id",
        max_length=ASSET_ID_MAX,
        required=False,
        validators=[RegexValidator(ASSET_ID_RE, f"Asset id {ASSET_ID_RULE}.")],
    )
    display_name = forms.CharField(label="Display name", max_length=200, required=False)
    version = forms.CharField(label="Version", max_length=64, required=False)
    desired = forms.ChoiceField(
        label="Desired state",
        required=False,
        choices=[("", "Interface default")] + [(s, s) for s in DESIRED_STATES],
    )
    max_concurrency = forms.IntegerField(label="Max concurrency", required=False, min_value=1)
    document = forms.CharField(
        label="Asset document (YAML)",
        widget=forms.Textarea(attrs={"rows": 22, "spellcheck": "false"}),
        help_text="The full document; the fields above override the same keys in it.",
    )

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            self.fields["asset_id"].disabled = True
            self.fields["asset_id"].help_text = "Ids cannot change once created."

    @classmethod
    def initial_for(cls, doc: dict[str, Any]) -> dict[str, Any]:
        return {
            "asset_id": doc.get("asset_id", ""),
            "display_name": doc.get("display_name", ""),
            "version": doc.get("version", ""),
            "desired": (doc.get("lifecycle") or {}).get("desired", ""),
            "max_concurrency": (doc.get("policy") or {}).get("max_concurrency"),
            "document": dump_document(doc),
        }

    def clean_document(self) -> dict[str, Any]:
        text = self.cleaned_data["document"]
        try:
            doc = parse_document(text, "document")
        except DocumentLoadError as exc:
            raise forms.ValidationError(str(exc)) from exc
        if doc is None:
            doc = {}
        if not isinstance(doc, dict):
            raise forms.ValidationError("The document must be a YAML mapping (key: value lines).")
        return doc

    def document_data(self) -> dict[str, Any]:
        """The raw document with the structured fields applied (call after ``is_valid``)."""
        doc = dict(self.cleaned_data["document"])
        data = self.cleaned_data
        for key in ("asset_id", "display_name", "version"):
            if data.get(key):
                doc[key] = data[key]
        if data.get("desired"):
            doc["lifecycle"] = {**(doc.get("lifecycle") or {}), "desired": data["desired"]}
        if data.get("max_concurrency") is not None:
            doc["policy"] = {**(doc.get("policy") or {}), "max_concurrency": data["max_concurrency"]}
        return doc

    def add_validation_errors(self, exc: AssetValidationError) -> None:
        """Attach each shared-validation error to the field it names."""
        for error in exc.errors:
            self.add_field_error(error)

    def add_field_error(self, error: FieldError) -> None:
        name = STRUCTURED.get(error.path)
        if name is not None:
            self.add_error(name, error.message)
        else:
            self.add_error("document", str(error))


class ImportForm(forms.Form):
    file = forms.FileField(label="YAML file", required=False, help_text="One or more documents (---).")
    text = forms.CharField(
        label="…or paste YAML",
        required=False,
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        upload = data.get("file")
        if upload is not None:
            try:
                data["yaml"] = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                self.add_error("file", "The file must be UTF-8 text.")
        elif data.get("text", "").strip():
            data["yaml"] = data["text"]
        else:
            raise forms.ValidationError("Choose a YAML file or paste YAML.")
        return data


class RejectForm(forms.Form):
    comment = forms.CharField(
        label="Why is it rejected?",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
    )


class TokenForm(forms.Form):
    label = forms.CharField(label="Label", max_length=100, help_text="What the token is for.")
    scopes = forms.MultipleChoiceField(
        label="Scopes",
        widget=forms.CheckboxSelectMultiple,
        choices=[(s, s) for s in ("read", "write", "operate", "approve", "gateway", "inference")],
        initial=["read"],
    )
    expires_in_days = forms.IntegerField(
        label="Expires in (days)", required=False, min_value=1, max_value=3650, help_text="Empty: never."
    )


class UserCreateForm(forms.Form):
    username = forms.CharField(label="Username", max_length=150)
    role = forms.ChoiceField(label="Role", choices=[(r, r) for r in ROLES], initial="viewer")


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=[(r, r) for r in ROLES])


class PasswordChangeForm(forms.Form):
    old_password = forms.CharField(
        label="Current password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    new_password = forms.CharField(
        label="New password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    new_password_again = forms.CharField(
        label="New password, again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("new_password") and data.get("new_password_again") not in (None, data["new_password"]):
            self.add_error("new_password_again", "The two new passwords differ.")
        return data
