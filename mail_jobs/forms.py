from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms

from mail_jobs.choices import AfterProcessing
from mail_jobs.documents import document_type_choices
from mail_jobs.models import MailJobSource
from mail_jobs.services.settings import SETTINGS_FIELDS
from mail_servers.choices import MAILBOX_PROTOCOLS, Protocol, ServerKind
from mail_servers.forms import MailServerFields
from mail_servers.services import MailServerValues
from mail_servers.validation import refuse_control_characters

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


class MailJobSourceForm(MailServerFields, forms.ModelForm):
    """The Jobs via Email settings and the mailbox's server (mail_servers.forms.MailServerFields)."""

    username_required = host_required = "Required for another mail server."
    password_required = "Enter the password of the mailbox."
    exchange_required = "Choose the connected Exchange Online system to read mail from."

    protocol = forms.ChoiceField(
        label="Protocol", choices=[(p.value, p.label) for p in MAILBOX_PROTOCOLS], widget=forms.RadioSelect
    )
    server_kind = forms.ChoiceField(label="Mail server", choices=ServerKind.choices, widget=forms.RadioSelect)
    shared_mailbox = forms.EmailField(
        label="Shared mailbox",
        required=False,
        help_text="Leave empty to read the connected mailbox; the connected account needs Full Access to a shared "
        "mailbox.",
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
            "folder": "IMAP only; POP3 always reads the inbox.",
            "max_message_size_mb": "Larger messages are not downloaded; the sender is told.",
            "exchange_authenticated_only": "Anyone can put someone else's address on a message. With this on, mail "
            "is printed only when Exchange Online vouches for its sender: sent by a signed-in user of your "
            "organisation, or passing DMARC or Microsoft's composite authentication for the sender's domain. Other "
            "mail is rejected without a reply, since the sender may be forged. Leave it off if mail reaches this "
            "mailbox through a forwarding service that breaks these checks.",
        }
        widgets = {"max_message_size_mb": forms.NumberInput(attrs={"min": 1, "max": 150})}

    def __init__(self, *args: Any, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        account = self.instance.mail_server
        if not self.is_bound:
            self.initial.update({"protocol": account.protocol, "server_kind": account.kind})
        self.mail_server_setup(tenant=tenant, account=account)
        self.fields["custom_port"].help_text = "Empty: 993 (IMAP) or 995 (POP3) with SSL/TLS, 143 or 110 otherwise."
        self.fields["max_message_size_mb"].validators.append(_between(1, 150))
        for name in ("folder", "move_to_folder"):  # they go into IMAP commands
            self.fields[name].validators.append(refuse_control_characters)
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
        protocol, kind = data.get("protocol"), data.get("server_kind")
        if protocol and kind:
            self.check_host(data, protocol=protocol)
            self.check_server(data, kind=kind, in_use=bool(data.get("enabled")))
        if protocol == Protocol.POP3 and data.get("after_processing") != AfterProcessing.DELETE:
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

    def settings_values(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}

    def server_values(self) -> MailServerValues:
        return self.mail_server_values(kind=self.cleaned_data["server_kind"], protocol=self.cleaned_data["protocol"])


def _between(low: int, high: int) -> Any:
    def validate(value: int | None) -> None:
        if value is not None and not low <= value <= high:
            raise forms.ValidationError(f"Enter a size from {low} to {high} MB.")

    return validate
