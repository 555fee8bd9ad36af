from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms

from external_systems.selectors import connected_exchange_systems
from mail_servers.validation import (
    PASSWORD_AGAIN,
    PLAINTEXT_PASSWORD_REFUSED,
    mail_server_clean,
    password_without_line_breaks,
    plaintext_passwords_allowed,
    refuse_control_characters,
)
from outgoing_mail.choices import OutgoingMode, SmtpSecurity
from outgoing_mail.models import OutgoingMailSettings
from outgoing_mail.services import OutgoingMailChange, smtp_server_changed

if TYPE_CHECKING:
    from accounts.models import Tenant


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
        label="User name",
        required=False,
        max_length=320,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        validators=[refuse_control_characters],
    )
    custom_password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        validators=[password_without_line_breaks],
    )
    from_address = forms.EmailField(label="From address", required=False)
    from_name = forms.CharField(
        label="From display name", required=False, max_length=200, validators=[refuse_control_characters]
    )

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
            self.fields["custom_password"].help_text = (
                "A password is saved. Leave empty to keep it (a new host, port or user name needs it again); clear "
                "the user name to remove it."
            )

    @property
    def has_saved_password(self) -> bool:
        return self.instance is not None and self.instance.has_password

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("custom_host") and data.get("custom_port") is not None:  # whichever mode: it may be chosen later
            mail_server_clean(self, host_field="custom_host", port_field="custom_port", port=data["custom_port"])
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
        if not (data.get("custom_host") or "").strip() and "custom_host" not in self.errors:
            self.add_error("custom_host", "Enter the SMTP server's host name.")
        if data.get("custom_port") is None and "custom_port" not in self.errors:
            self.add_error("custom_port", "Enter the port (587 for STARTTLS, 465 for SSL/TLS).")
        if not data.get("from_address") and "from_address" not in self.errors:
            self.add_error("from_address", "Enter the address the mail is sent from.")
        username, password = data.get("custom_username", ""), data.get("custom_password", "")
        keeps_password = self.has_saved_password and not self._server_changed(data)
        if username and not password and self.has_saved_password and not keeps_password:
            self.add_error("custom_password", PASSWORD_AGAIN)
        elif username and not (password or keeps_password):
            self.add_error("custom_password", "Enter the password of this user name.")
        if password and not username:
            self.add_error("custom_username", "Enter the user name this password belongs to.")
        if username and data.get("custom_security") == SmtpSecurity.NONE and not plaintext_passwords_allowed():
            self.add_error("custom_security", PLAINTEXT_PASSWORD_REFUSED)

    def _server_changed(self, data: dict[str, Any]) -> bool:
        assert self.instance is not None
        return smtp_server_changed(
            self.instance,
            host=data.get("custom_host") or "",
            port=data.get("custom_port"),
            username=data.get("custom_username") or "",
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
