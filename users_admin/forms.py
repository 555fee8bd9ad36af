from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib.auth.password_validation import validate_password

from accounts.choices import Role, UserSource
from users_admin.services import DIRECTORY_FIELDS, UserValues, aliases_parse

if TYPE_CHECKING:
    from accounts.models import User

PIN_HELP = "4 to 12 digits, typed at the printer. Stored hashed: nobody can read it back."


class UserForm(forms.Form):
    email = forms.EmailField(label="Email", max_length=254)
    full_name = forms.CharField(label="Display name", max_length=200, required=False)
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.USER)
    aliases = forms.CharField(
        label="Aliases",
        required=False,
        max_length=2000,
        help_text="Other names the user signs in and is found with, separated by commas or spaces.",
    )
    card = forms.CharField(label="Card", max_length=100, required=False, help_text="The card number of the printer.")
    pin = forms.RegexField(
        label="PIN",
        regex=r"^\d{4,12}$",
        required=False,
        error_messages={"invalid": "A PIN is 4 to 12 digits."},
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
        help_text=PIN_HELP,
    )

    def __init__(self, *args: Any, user: User | None = None, **kwargs: Any) -> None:
        self.user = user
        if user is not None:
            kwargs.setdefault(
                "initial",
                {
                    "email": user.email,
                    "full_name": user.full_name,
                    "role": user.role,
                    "aliases": ", ".join(a.name for a in user.sign_in_aliases.order_by("name")),
                    "card": user.card,
                },
            )
        super().__init__(*args, **kwargs)
        if user is None:
            self.fields["invite"] = forms.BooleanField(
                label="Email an invitation to choose a password", required=False, initial=True
            )
            return
        self.fields["pin"].help_text = (
            ("Leave empty to keep the PIN." if user.has_pin else "The user has no PIN yet.") + " " + PIN_HELP
        )
        if user.has_pin:
            self.fields["remove_pin"] = forms.BooleanField(label="Remove the PIN", required=False)
        if user.source == UserSource.SYNCED:
            for name in DIRECTORY_FIELDS:
                field = self.fields[name]
                field.disabled = True
                field.help_text = "From the directory (Microsoft Entra ID): change it there; the next sync brings it."

    def values(self) -> UserValues:
        data = self.cleaned_data
        pin: str | None = data.get("pin") or None
        if self.user is not None and data.get("remove_pin"):
            pin = ""
        return UserValues(
            email=data["email"],
            full_name=data.get("full_name", ""),
            role=data["role"],
            aliases=aliases_parse(data.get("aliases", "")),
            card=data.get("card", ""),
            pin=pin,
        )


class DeactivateForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=200,
        required=False,
        help_text="Shown on the Users page, e.g. “Left the company”.",
    )


class ImportForm(forms.Form):
    file = forms.FileField(
        label="CSV or Excel (.xlsx) file",
        help_text=(
            "Columns: Email (required), Name, Role (admin or user), Aliases (separated by ;), Card, PIN. "
            f"Up to {settings.USER_IMPORT_MAX_BYTES // (1024 * 1024)} MB."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx"}),
    )
    send_invitations = forms.BooleanField(
        label="Email each new user an invitation to choose a password", required=False
    )


class InvitationForm(forms.Form):
    password1 = forms.CharField(
        label="Password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label="Password again", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        self.user = user
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        elif first:
            try:
                validate_password(first, self.user)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data
