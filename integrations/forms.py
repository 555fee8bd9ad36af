from __future__ import annotations

import re
from typing import Any

from django import forms

from integrations.legacy.selectors import is_legacy_app
from integrations.services.integrations import ManualSetup
from microsoft.identity import is_guid

DOMAIN_RE = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
GUID_HELP = "A GUID such as 4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f."


class SecretField(forms.CharField):
    """Shown as required; the form decides, because the legacy app and a kept secret need none."""

    def validate(self, value: Any) -> None:
        return None


class NameForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        initial="Microsoft 365",
        help_text="How this integration is called in Roger, for example after the organization it connects.",
    )


class ManualIntegrationForm(forms.Form):
    name = forms.CharField(max_length=100, initial="Microsoft 365 (custom application)")
    directory = forms.CharField(
        label="Directory (Tenant) ID",
        required=False,
        max_length=255,
        help_text=(
            "Restricts the Microsoft features to that organization: its GUID, or a domain such as "
            "contoso.onmicrosoft.com (resolved to the GUID on save). Leave it blank to allow any organization "
            "and personal accounts; User Synchronization and Universal Print then cannot be enabled until you "
            "add it."
        ),
    )
    application_id = forms.CharField(
        label="Application ID",
        max_length=36,
        help_text="The Application (client) ID of the app registration. " + GUID_HELP,
    )
    client_secret = SecretField(
        label="Application Secret",
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="The secret's Value (not its Secret ID). It is stored encrypted and never shown again.",
    )
    secret_expires_on = forms.DateField(
        label="Application Secret expiration date",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="When the secret expires in Azure; Roger warns you before that date.",
    )

    def __init__(self, *args: Any, has_stored_secret: bool = False, stored_application_id: str = "", **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.has_stored_secret = has_stored_secret
        self.stored_application_id = stored_application_id.lower()
        if has_stored_secret:
            self.fields["client_secret"].required = False
            self.fields["client_secret"].help_text = (
                "Leave blank to keep the stored secret. A new Application ID needs its own secret. "
                "The secret is stored encrypted and never shown."
            )

    def clean_directory(self) -> str:
        value: str = self.cleaned_data["directory"].strip().lower()
        if value and not is_guid(value) and not DOMAIN_RE.match(value):
            raise forms.ValidationError(
                "Enter the Directory (Tenant) ID as a GUID (Azure portal > Microsoft Entra ID > Overview > Tenant ID) "
                "or a domain of the organization such as contoso.onmicrosoft.com."
            )
        return value

    def clean_application_id(self) -> str:
        value: str = self.cleaned_data["application_id"].strip().lower()
        if not is_guid(value):
            raise forms.ValidationError(
                "Enter the Application (client) ID shown in the Azure portal under App registrations > Overview. "
                + GUID_HELP
            )
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        application_id = data.get("application_id")
        if application_id and not data.get("client_secret") and not is_legacy_app(application_id):
            keeps_stored = self.has_stored_secret and application_id == self.stored_application_id
            if not keeps_stored:
                self.add_error(
                    "client_secret",
                    "Enter the Application Secret of this application (Azure portal > App registrations > the app > "
                    "Certificates & secrets > New client secret, then copy its Value).",
                )
        return data

    def setup(self) -> ManualSetup:
        data = self.cleaned_data
        return ManualSetup(
            name=data["name"],
            directory=data["directory"],
            application_id=data["application_id"],
            client_secret=data.get("client_secret") or None,
            secret_expires_on=data.get("secret_expires_on"),
        )
