from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django import forms

from external_systems.selectors import connected_exchange_systems
from outgoing_mail.choices import OutgoingMode, SmtpSecurity
from outgoing_mail.models import OutgoingMailSettings
from outgoing_mail.services import OutgoingMailChange

if TYPE_CHECKING:
    from accounts.models import Tenant

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")


class ExchangeSystemChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.title} ({obj.mailbox})"


class OutgoingMailForm(forms.Form):
    mode = forms.ChoiceField(
        label="Send the portal's mail through", choices=OutgoingMode.choices, widget=forms.RadioSelect
    )
    exchange_system = ExchangeSystemChoice(
        label="Exchange Online system",
        queryset=None,
        required=False,
        empty_label="Choose a connected system",
        error_messages={"invalid_choice": "Choose one of the connected Exchange Online systems."},
    )
    send_as_mailbox = forms.EmailField(
        label="Send as (shared mailbox)",
        required=False,
        help_text="A shared mailbox the connected account has Send As permission on. Leave empty to send as the "
        "connected mailbox.",
    )
    custom_host = forms.CharField(
        label="Host", required=False, max_length=255, widget=forms.TextInput(attrs={"placeholder": "smtp.example.com"})
    )
    custom_port = forms.IntegerField(label="Port", required=False, min_value=1, max_value=65535, initial=587)
    custom_security = forms.ChoiceField(label="Security", choices=SmtpSecurity.choices, initial=SmtpSecurity.STARTTLS)
    custom_username = forms.CharField(
        label="User name", required=False, max_length=320, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    custom_password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    from_address = forms.EmailField(label="From address", required=False)
    from_name = forms.CharField(label="From display name", required=False, max_length=200)

    def __init__(self, *args: Any, tenant: Tenant, instance: OutgoingMailSettings | None, **kwargs: Any) -> None:
        self.instance = instance
        if instance is not None:
            kwargs["initial"] = {
                "mode": instance.mode,
                "exchange_system": instance.exchange_system_id,
                "send_as_mailbox": instance.send_as_mailbox,
                "custom_host": instance.custom_host,
                "custom_port": instance.custom_port,
                "custom_security": instance.custom_security,
                "custom_username": instance.custom_username,
                "from_address": instance.from_address,
                "from_name": instance.from_name,
            }
        kwargs.setdefault("initial", {"mode": OutgoingMode.DEFAULT, "custom_port": 587})
        super().__init__(*args, **kwargs)
        field = self.fields["exchange_system"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = connected_exchange_systems(tenant=tenant)
        if instance is not None and instance.has_password:
            self.fields[
                "custom_password"
            ].help_text = "A password is saved. Leave empty to keep it; clear the user name to remove it."

    @property
    def has_saved_password(self) -> bool:
        return self.instance is not None and self.instance.has_password

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        mode = data.get("mode")
        if mode == OutgoingMode.EXCHANGE:
            self._clean_exchange(data)
        elif mode == OutgoingMode.CUSTOM:
            self._clean_custom(data)
        return data

    def _clean_exchange(self, data: dict[str, Any]) -> None:
        system = data.get("exchange_system")
        if system is None:
            if "exchange_system" not in self.errors:
                self.add_error("exchange_system", "Choose the Exchange Online system whose mailbox sends the mail.")
            return
        if (data.get("send_as_mailbox") or "").lower() == system.mailbox.lower():
            data["send_as_mailbox"] = ""

    def _clean_custom(self, data: dict[str, Any]) -> None:
        host = (data.get("custom_host") or "").strip()
        if not host:
            self.add_error("custom_host", "Enter the SMTP server's host name.")
        elif not _HOST.match(host):
            self.add_error("custom_host", "Enter the host name only, e.g. smtp.example.com (no https:// and no port).")
        if data.get("custom_port") is None and "custom_port" not in self.errors:
            self.add_error("custom_port", "Enter the port (587 for STARTTLS, 465 for SSL/TLS).")
        if not data.get("from_address") and "from_address" not in self.errors:
            self.add_error("from_address", "Enter the address the mail is sent from.")
        username, password = data.get("custom_username", ""), data.get("custom_password", "")
        has_password = bool(password) or self.has_saved_password
        if username and not has_password:
            self.add_error("custom_password", "Enter the password of this user name.")
        if password and not username:
            self.add_error("custom_username", "Enter the user name this password belongs to.")
        if username and data.get("custom_security") == SmtpSecurity.NONE:
            self.add_error(
                "custom_security",
                "Choose STARTTLS or SSL/TLS: a password is never sent over an unencrypted connection.",
            )

    def change(self) -> OutgoingMailChange:
        data = self.cleaned_data
        return OutgoingMailChange(
            mode=data["mode"],
            exchange_system=data.get("exchange_system"),
            send_as_mailbox=data.get("send_as_mailbox") or "",
            custom_host=(data.get("custom_host") or "").strip(),
            custom_port=data.get("custom_port") or 587,
            custom_security=data.get("custom_security") or SmtpSecurity.STARTTLS,
            custom_username=data.get("custom_username") or "",
            custom_password=data.get("custom_password") or None,
            from_address=data.get("from_address") or "",
            from_name=data.get("from_name") or "",
        )


class TestEmailForm(forms.Form):
    recipient = forms.EmailField(label="Send a test email to")
