"""Hub-UI forms. They parse; the rules live in ``models_admin.validation`` and the services.

The asset form, generated from the interface specs and runtime kinds, is ``models_admin.ui.asset_form``.
"""

from __future__ import annotations

from typing import Any

from django import forms

from models_admin.roles import ROLES


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


class OfferedScopes(forms.MultipleChoiceField):
    """Checkboxes for the scopes offered; what is posted goes to the service, which checks it."""

    def valid_value(self, value: str) -> bool:
        return True


class TokenForm(forms.Form):
    """``offered``: the scopes the person's role may hold (``roles.scopes_allowed``), in display order."""

    label = forms.CharField(label="Label", max_length=100, help_text="What the token is for.")
    scopes = OfferedScopes(label="Scopes", widget=forms.CheckboxSelectMultiple)
    expires_in_days = forms.IntegerField(
        label="Expires in (days)", required=False, min_value=1, max_value=3650, help_text="Empty: never."
    )

    def __init__(self, *args: Any, offered: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["scopes"]
        assert isinstance(field, OfferedScopes)
        field.choices = [(s, s) for s in offered]
        field.initial = ["read"] if "read" in offered else []


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
