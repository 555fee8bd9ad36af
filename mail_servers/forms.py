"""The mail server part of a settings form: the Exchange Online system, or the host, port, security, user name and
write-only password of another server. Settings > Network and Settings > Jobs each build their form on it and
render it with the partials in templates/mail_servers/."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django import forms

from external_systems.selectors import connected_exchange_systems
from mail_servers.choices import DEFAULT_PORTS, Protocol, Security, ServerKind
from mail_servers.services import MailServerValues, password_destination_changed
from mail_servers.validation import (
    PASSWORD_AGAIN,
    PLAINTEXT_PASSWORD_REFUSED,
    mail_server_clean,
    password_without_line_breaks,
    plaintext_passwords_allowed,
    refuse_control_characters,
)

if TYPE_CHECKING:
    from accounts.models import Tenant
    from mail_servers.models import MailServerAccount

__all__ = ["ExchangeSystemChoice", "MailServerFields"]

SAVED_PASSWORD_HELP = (
    "A password is saved. Leave empty to keep it (a new host, port or user name needs it again); clear the user "
    "name to remove it."
)


class ExchangeSystemChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.title} ({obj.mailbox})"


class MailServerFields(forms.Form):
    """Declares the server's fields and checks them. A form built on it says which field holds the shared mailbox
    (`mailbox_field`, declared by that form with its own label) and what the page calls a missing system, host or
    password; its `clean` calls `check_host` and `check_server`, and it saves `mail_server_values()`."""

    mailbox_field: ClassVar[str] = "shared_mailbox"
    exchange_required: ClassVar[str] = "Choose the connected Exchange Online system."
    host_required: ClassVar[str] = "Required for another mail server."
    username_required: ClassVar[str | None] = None  # None: a server may take mail without a sign-in
    password_required: ClassVar[str] = "Enter the password of this user name."

    exchange_system = ExchangeSystemChoice(
        label="Exchange Online system",
        queryset=None,
        required=False,
        empty_label="Choose a connected system",
        error_messages={"invalid_choice": "Choose one of the connected Exchange Online systems."},
    )
    custom_host = forms.CharField(
        label="Host", required=False, max_length=255, widget=forms.TextInput(attrs={"placeholder": "mail.example.com"})
    )
    custom_port = forms.IntegerField(label="Port", required=False, min_value=1, max_value=65535)
    custom_security = forms.ChoiceField(label="Security", choices=Security.choices, initial=Security.SSL)
    custom_username = forms.CharField(
        label="User name",
        required=False,
        max_length=320,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        validators=[refuse_control_characters],  # it goes into protocol commands
    )
    custom_password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        validators=[password_without_line_breaks],
    )

    def mail_server_setup(self, *, tenant: Tenant, account: MailServerAccount | None) -> None:
        """Call from `__init__` after the form's own set-up: the tenant's systems, the saved account's values."""
        self.mail_server = account
        field = self.fields["exchange_system"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = connected_exchange_systems(tenant=tenant)
        if account is not None and not self.is_bound:
            self.initial.update(
                {
                    "exchange_system": account.exchange_system_id,
                    self.mailbox_field: account.shared_mailbox,
                    "custom_host": account.host,
                    "custom_port": account.port,
                    "custom_security": account.security,
                    "custom_username": account.username,
                }
            )
        if self.has_saved_password:
            self.fields["custom_password"].help_text = SAVED_PASSWORD_HELP

    @property
    def has_saved_password(self) -> bool:
        account = getattr(self, "mail_server", None)
        return account is not None and account.has_password

    @property
    def has_systems(self) -> bool:
        return bool(self.fields["exchange_system"].queryset.exists())  # type: ignore[attr-defined]

    def check_host(self, data: dict[str, Any], *, protocol: str) -> None:
        """The host as a worker will check it before connecting, whichever kind of server is chosen now (it may
        be chosen later); an accepted host is stored normalized."""
        if not data.get("custom_host") or "custom_port" in self.errors or not data.get("custom_security"):
            return
        port = data.get("custom_port") or DEFAULT_PORTS[(Protocol(protocol), Security(data["custom_security"]))]
        mail_server_clean(self, host_field="custom_host", port_field="custom_port", port=port)

    def check_server(self, data: dict[str, Any], *, kind: str, in_use: bool) -> None:
        """What the chosen kind of server needs. `in_use`: the page will use it, so what it needs is required."""
        if kind == ServerKind.EXCHANGE:
            system = data.get("exchange_system")
            if in_use and system is None and "exchange_system" not in self.errors:
                self.add_error("exchange_system", self.exchange_required)
            if system is not None and (data.get(self.mailbox_field) or "").lower() == system.mailbox.lower():
                data[self.mailbox_field] = ""  # the connected mailbox itself
            return
        self._check_sign_in(data, in_use=in_use)

    def _check_sign_in(self, data: dict[str, Any], *, in_use: bool) -> None:
        host, username, password = data.get("custom_host"), data.get("custom_username"), data.get("custom_password")
        keeps_password = self.has_saved_password and not self._destination_changed(data)
        if in_use and not host and "custom_host" not in self.errors:
            self.add_error("custom_host", self.host_required)
        if in_use and self.username_required and not username and "custom_username" not in self.errors:
            self.add_error("custom_username", self.username_required)
        if username and not password and self.has_saved_password and not keeps_password:
            if "custom_host" not in self.errors:
                self.add_error("custom_password", PASSWORD_AGAIN)
        elif in_use and username and not (password or keeps_password):
            self.add_error("custom_password", self.password_required)
        if password and not username and "custom_username" not in self.errors:
            self.add_error("custom_username", "Enter the user name this password belongs to.")
        signs_in = username or password
        if signs_in and data.get("custom_security") == Security.NONE and not plaintext_passwords_allowed():
            self.add_error("custom_security", PLAINTEXT_PASSWORD_REFUSED)

    def _destination_changed(self, data: dict[str, Any]) -> bool:
        assert self.mail_server is not None
        return password_destination_changed(
            self.mail_server,
            host=data.get("custom_host") or "",
            port=data.get("custom_port"),
            username=data.get("custom_username") or "",
        )

    def mail_server_values(self, *, kind: str, protocol: str) -> MailServerValues:
        data = self.cleaned_data
        return MailServerValues(
            kind=kind,
            protocol=protocol,
            exchange_system=data.get("exchange_system"),
            shared_mailbox=data.get(self.mailbox_field) or "",
            host=(data.get("custom_host") or "").strip(),
            port=data.get("custom_port"),
            security=data.get("custom_security") or Security.SSL,
            username=data.get("custom_username") or "",
            password=data.get("custom_password") or None,
        )
