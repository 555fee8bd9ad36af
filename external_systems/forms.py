from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django import forms

from external_systems.models import ExternalSystem
from microsoft.identity import is_guid

if TYPE_CHECKING:
    from accounts.models import Tenant

_DOMAIN = re.compile(r"^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_SHARED_AUTHORITIES = {"common", "organizations", "consumers"}

CLIENT_ID_HELP = "The Application (client) ID from the app registration's Overview page in the Azure portal."
TENANT_ID_HELP = (
    "The Directory (tenant) ID from the same Overview page, or one of the directory's domains "
    "(for example contoso.onmicrosoft.com): the domain is turned into its ID when you save."
)


class SystemForm(forms.Form):
    """Title, Client ID and Tenant ID of an Exchange Online system, checked before anything talks to Microsoft."""

    title = forms.CharField(max_length=100, help_text="A name to recognise it by, e.g. MS Exchange Online.")
    client_id = forms.CharField(label="Client ID", max_length=36, help_text=CLIENT_ID_HELP)
    tenant_id = forms.CharField(label="Tenant ID", max_length=255, help_text=TENANT_ID_HELP)

    def __init__(self, *args: Any, tenant: Tenant, system: ExternalSystem | None = None, **kwargs: Any) -> None:
        if system is not None:
            kwargs.setdefault(
                "initial",
                {"title": system.title, "client_id": system.client_id, "tenant_id": system.directory_input},
            )
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        self.system = system
        for name in ("client_id", "tenant_id"):
            self.fields[name].widget.attrs.update({"autocomplete": "off", "spellcheck": "false"})
        self.fields["client_id"].widget.attrs["placeholder"] = "00000000-0000-0000-0000-000000000000"
        self.fields["tenant_id"].widget.attrs["placeholder"] = "Directory ID or contoso.onmicrosoft.com"

    def clean_title(self) -> str:
        title = self.cleaned_data["title"].strip()
        others = ExternalSystem.objects.filter(tenant=self.tenant, title__iexact=title)
        if self.system is not None:
            others = others.exclude(pk=self.system.pk)
        if others.exists():
            raise forms.ValidationError(f"An external system called “{title}” already exists. Choose another title.")
        return title

    def clean_client_id(self) -> str:
        value = self.cleaned_data["client_id"].strip().strip("{}").lower()
        if not is_guid(value):
            raise forms.ValidationError(
                "The Client ID is a GUID like 1a2b3c4d-0000-4000-8000-123456789abc. Copy the Application (client) ID "
                "from the app registration's Overview page."
            )
        return value

    def clean_tenant_id(self) -> str:
        value = self.cleaned_data["tenant_id"].strip().strip("{}").lower()
        if value in _SHARED_AUTHORITIES:
            raise forms.ValidationError(
                f"“{value}” is not a directory. Enter your directory's ID (a GUID) or one of its domains."
            )
        if not (is_guid(value) or _DOMAIN.match(value)):
            raise forms.ValidationError(
                "Enter the Directory (tenant) ID, a GUID like 1a2b3c4d-0000-4000-8000-123456789abc, or a domain of "
                "the directory such as contoso.onmicrosoft.com."
            )
        return value


class EditSystemForm(SystemForm):
    # Set once the admin has read that a new Client ID or Tenant ID means signing in again.
    confirm_new_connection = forms.BooleanField(required=False, widget=forms.HiddenInput)


class EmailCodeForm(forms.Form):
    recipient = forms.EmailField(
        label="Mailbox owner's email address",
        help_text="They get the code and the link, and sign in with the mailbox themselves.",
    )
