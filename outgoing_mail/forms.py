from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms

from mail_servers.choices import Protocol, Security, ServerKind
from mail_servers.forms import MailServerFields
from mail_servers.validation import refuse_control_characters
from outgoing_mail.choices import OutgoingMode
from outgoing_mail.models import OutgoingMailSettings
from outgoing_mail.services import DEFAULT_SMTP_PORT, OutgoingMailChange

if TYPE_CHECKING:
    from accounts.models import Tenant

SMTP_SECURITY_CHOICES = [
    (Security.STARTTLS.value, "STARTTLS (usually port 587)"),
    (Security.SSL.value, "SSL/TLS (usually port 465)"),
    (Security.NONE.value, "None (usually port 25; no password allowed)"),
]


class OutgoingMailForm(MailServerFields):
    """Settings > Network: Roger's server, or the tenant's SMTP server (mail_servers.forms.MailServerFields)."""

    mailbox_field = "send_as_mailbox"
    host_required = "Enter the SMTP server's host name."
    exchange_required = "Choose the Exchange Online system whose mailbox sends the mail."

    mode = forms.ChoiceField(
        label="Send the portal's mail through", choices=OutgoingMode.choices, widget=forms.RadioSelect
    )
    send_as_mailbox = forms.EmailField(
        label="Send as (shared mailbox)",
        required=False,
        help_text="A shared mailbox the connected account has Send As permission on. Leave empty to send as the "
        "connected mailbox.",
    )
    from_address = forms.EmailField(label="From address", required=False)
    from_name = forms.CharField(
        label="From display name", required=False, max_length=200, validators=[refuse_control_characters]
    )

    def __init__(self, *args: Any, tenant: Tenant, instance: OutgoingMailSettings | None, **kwargs: Any) -> None:
        self.instance = instance
        initial = {"mode": OutgoingMode.DEFAULT, "custom_port": DEFAULT_SMTP_PORT, "custom_security": Security.STARTTLS}
        if instance is not None:
            initial.update(mode=instance.mode, from_address=instance.from_address, from_name=instance.from_name)
        kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        self.fields["custom_security"] = forms.ChoiceField(label="Security", choices=SMTP_SECURITY_CHOICES)
        self.fields["custom_host"].widget.attrs["placeholder"] = "smtp.example.com"
        self.mail_server_setup(tenant=tenant, account=instance.mail_server if instance is not None else None)

    def clean_send_as_mailbox(self) -> str:
        return str(self.cleaned_data.get("send_as_mailbox") or "").lower()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        self.check_host(data, protocol=Protocol.SMTP)  # whichever mode: it may be chosen later
        mode = data.get("mode")
        if mode in (OutgoingMode.EXCHANGE, OutgoingMode.CUSTOM):
            self.check_server(data, kind=mode, in_use=True)
        if mode == OutgoingMode.CUSTOM:
            if data.get("custom_port") is None and "custom_port" not in self.errors:
                self.add_error("custom_port", "Enter the port (587 for STARTTLS, 465 for SSL/TLS).")
            if not data.get("from_address") and "from_address" not in self.errors:
                self.add_error("from_address", "Enter the address the mail is sent from.")
        return data

    def change(self) -> OutgoingMailChange:
        data = self.cleaned_data
        mode = data["mode"]
        if mode == OutgoingMode.DEFAULT:  # the tenant's server stays as it was chosen, for another day
            kind = self.instance.mail_server.kind if self.instance is not None else ServerKind.EXCHANGE
        else:
            kind = mode
        return OutgoingMailChange(
            use_own_server=mode != OutgoingMode.DEFAULT,
            server=self.mail_server_values(kind=kind, protocol=Protocol.SMTP),
            from_address=data.get("from_address") or "",
            from_name=data.get("from_name") or "",
        )


class TestEmailForm(forms.Form):
    recipient = forms.EmailField(label="Send a test email to")
