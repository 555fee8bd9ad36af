from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from external_systems.selectors import connected_exchange_systems
from mail_jobs.choices import AfterProcessing, Protocol, Security, ServerKind
from mail_jobs.documents import document_type_choices
from mail_jobs.models import MailJobSource
from mail_jobs.services.connection import default_port
from mail_jobs.services.settings import SETTINGS_FIELDS, mail_server_changed
from outgoing_mail.validation import (
    PASSWORD_AGAIN,
    PLAINTEXT_PASSWORD_REFUSED,
    mail_server_clean,
    password_without_line_breaks,
    plaintext_passwords_allowed,
    refuse_control_characters,
)

if TYPE_CHECKING:
    from accounts.models import Tenant

POLL_INTERVALS = [
    (1, "Every minute"),
    (2, "Every 2 minutes"),
    (5, "Every 5 minutes"),
    (10, "Every 10 minutes"),
    (15, "Every 15 minutes"),
    (30, "Every 30 minutes"),
    (60, "Every hour"),
]


class ExchangeSystemChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.title} ({obj.mailbox})"


class MailJobSourceForm(forms.ModelForm):
    exchange_system = ExchangeSystemChoice(
        label="Exchange Online system",
        queryset=None,
        required=False,
        empty_label="Choose a connected system",
        error_messages={"invalid_choice": "Choose one of the connected Exchange Online systems."},
    )
    custom_password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        validators=[password_without_line_breaks],
    )
    poll_interval_minutes = forms.TypedChoiceField(label="Check for new mail", choices=POLL_INTERVALS, coerce=int)
    document_types = forms.MultipleChoiceField(
        label="Allowed document types",
        choices=document_type_choices(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    class Meta:
        model = MailJobSource
        fields = list(SETTINGS_FIELDS)  # the one list the settings service saves
        labels = {
            "enabled": "Turn mail into print jobs",
            "server_kind": "Mail server",
            "shared_mailbox": "Shared mailbox",
            "custom_host": "Host",
            "custom_port": "Port",
            "custom_security": "Security",
            "custom_username": "User name",
            "folder": "Folder",
            "after_processing": "After processing",
            "move_to_folder": "Move to folder",
            "max_message_size_mb": "Maximum message size (MB)",
            "print_body": "Print the message body too",
            "unknown_senders": "Mail from unknown senders",
            "reply_on_rejection": "Tell the sender why, when something is not printed",
            "exchange_authenticated_only": "Accept only mail that Exchange Online authenticated",
        }
        help_texts = {
            "shared_mailbox": "Leave empty to read the connected mailbox; the connected account needs Full Access "
            "to a shared mailbox.",
            "custom_port": "Empty: 993 (IMAP) or 995 (POP3) with SSL/TLS, 143 or 110 otherwise.",
            "folder": "IMAP only; POP3 always reads the inbox.",
            "max_message_size_mb": "Larger messages are not downloaded; the sender is told.",
            "exchange_authenticated_only": "Anyone can put someone else's address on a message. With this on, mail "
            "is printed only when Exchange Online vouches for its sender: sent by a signed-in user of your "
            "organisation, or passing DMARC or Microsoft's composite authentication for the sender's domain. Other "
            "mail is rejected without a reply, since the sender may be forged. Leave it off if mail reaches this "
            "mailbox through a forwarding service that breaks these checks.",
        }
        widgets = {
            "protocol": forms.RadioSelect,
            "server_kind": forms.RadioSelect,
            "custom_port": forms.NumberInput(attrs={"min": 1, "max": 65535}),
            "custom_username": forms.TextInput(attrs={"autocomplete": "off"}),
            "max_message_size_mb": forms.NumberInput(attrs={"min": 1, "max": 150}),
        }

    def __init__(self, *args: Any, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        field = self.fields["exchange_system"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = connected_exchange_systems(tenant=tenant)
        self.fields["max_message_size_mb"].validators.append(_between(1, 150))
        self.fields["custom_port"].validators += [MinValueValidator(1), MaxValueValidator(65535)]
        for name in ("custom_username", "folder", "move_to_folder"):  # they go into IMAP and POP3 commands
            self.fields[name].validators.append(refuse_control_characters)
        self.has_saved_password = bool(self.instance.custom_password)
        if self.has_saved_password:
            self.fields[
                "custom_password"
            ].help_text = "A password is saved. Leave empty to keep it; a new host, port or user name needs it again."
        self.fields["exchange_authenticated_only"].widget.attrs["aria-describedby"] = (
            f"{self['exchange_authenticated_only'].id_for_label}_help"
        )
        self.fields["unknown_senders"].help_text = (
            "Registering needs “Allow self-registration by email” for the tenant."
            if not tenant.allow_self_registration_by_email
            else "New senders become users of the tenant."
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        self._clean_server(data)
        if data.get("server_kind") == ServerKind.EXCHANGE:
            if data.get("enabled") and not data.get("exchange_system"):
                self.add_error("exchange_system", "Choose the connected Exchange Online system to read mail from.")
        else:
            self._clean_custom(data)
        if data.get("protocol") == Protocol.POP3 and data.get("after_processing") != AfterProcessing.DELETE:
            self.add_error("after_processing", "POP3 can only delete processed messages.")
        if data.get("after_processing") == AfterProcessing.MOVE:
            target = (data.get("move_to_folder") or "").strip()
            if not target:
                self.add_error("move_to_folder", "Enter the folder to move processed mail to.")
            elif target.lower() == (data.get("folder") or "").strip().lower():
                self.add_error("move_to_folder", "Choose a folder other than the one that is read.")
        if data.get("enabled") and not data.get("document_types") and not data.get("print_body"):
            self.add_error("document_types", "Allow at least one document type, or print the message body.")
        if not (data.get("folder") or "").strip():
            data["folder"] = "INBOX"
        return data

    def _clean_server(self, data: dict[str, Any]) -> None:
        """The host as a worker will check it before connecting, whichever kind of server is chosen now."""
        if "custom_port" in self.errors or not data.get("protocol") or not data.get("custom_security"):
            return
        port = data.get("custom_port") or default_port(data["protocol"], data["custom_security"])
        mail_server_clean(self, host_field="custom_host", port_field="custom_port", port=port)

    def _clean_custom(self, data: dict[str, Any]) -> None:
        password = self.cleaned_data.get("custom_password")
        keeps_password = self.has_saved_password and not self._server_changed(data)
        if self.has_saved_password and not password and not keeps_password and "custom_host" not in self.errors:
            self.add_error("custom_password", PASSWORD_AGAIN)
        elif data.get("enabled"):
            for name in ("custom_host", "custom_username"):
                if not data.get(name) and name not in self.errors:
                    self.add_error(name, "Required for another mail server.")
            if not password and not keeps_password:
                self.add_error("custom_password", "Enter the password of the mailbox.")
        signs_in = data.get("custom_username") or password
        if signs_in and data.get("custom_security") == Security.NONE and not plaintext_passwords_allowed():
            self.add_error("custom_security", PLAINTEXT_PASSWORD_REFUSED)

    def _server_changed(self, data: dict[str, Any]) -> bool:
        return mail_server_changed(
            self.instance,
            host=data.get("custom_host") or "",
            port=data.get("custom_port"),
            username=data.get("custom_username") or "",
        )


def _between(low: int, high: int) -> Any:
    def validate(value: int | None) -> None:
        if value is not None and not low <= value <= high:
            raise forms.ValidationError(f"Enter a size from {low} to {high} MB.")

    return validate
