"""A mail server a Roger tenant uses, and the account Roger signs in to it with.

Modelled on paperless-ngx's `MailAccount` (src/paperless_mail/models.py): the account holds the server and the
sign-in, and what is done with its mail belongs to whoever uses it (paperless-ngx's `MailRule` there; here the
outgoing mail settings of Settings > Network and the Jobs via Email source of Settings > Jobs, each pointing at its
own account). The server is either the Exchange Online mailbox of a connected external system (signed in with a
token from the token store, optionally opening or sending as a shared mailbox) or a server the tenant admin typed
(host, port, security, user name and an encrypted password).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils import timezone
from fernet_fields import EncryptedTextField

from background.models import Claimable
from mail_servers.choices import DEFAULT_PORTS, ConnectionTestStatus, Protocol, Security, ServerKind, ServerStatus
from ui.fields import StatusField


class MailServerAccount(Claimable):
    """One server and account. Its background work is the connection test an admin asked for (claimed as
    background.claims describes: due at `next_attempt_at`, held by one worker until `lease_until`)."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="mail_servers")
    kind = models.CharField(max_length=10, choices=ServerKind.choices, default=ServerKind.EXCHANGE)
    protocol = models.CharField(max_length=4, choices=Protocol.choices)

    # Exchange Online
    exchange_system = models.ForeignKey(
        "external_systems.ExternalSystem", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    shared_mailbox = models.EmailField(
        blank=True,
        help_text="A shared mailbox the connected account opens or sends as; blank: the connected mailbox.",
    )

    # A server the tenant admin typed
    host = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: the usual port of the security.")
    security = models.CharField(max_length=10, choices=Security.choices, default=Security.SSL)
    username = models.CharField(max_length=320, blank=True)
    password = EncryptedTextField(
        blank=True, default="", help_text="Only ever sent to the host, port and user name it was entered for."
    )

    # What its last use showed (mail_servers.selectors.mail_server_health presents it)
    status = StatusField(max_length=20, choices=ServerStatus, default=ServerStatus.NEVER)
    status_reason = models.TextField(blank=True, help_text="What went wrong and how to fix it.")
    fix_url = models.CharField(max_length=500, blank=True)
    status_since = models.DateTimeField(null=True, blank=True, help_text="Since when the status has been this.")

    # The last "Test connection"
    test_status = StatusField(max_length=10, choices=ConnectionTestStatus, default=ConnectionTestStatus.IDLE)
    test_folders = models.JSONField(
        default=list, blank=True, help_text="IMAP: the folder read, then folders that must exist."
    )
    test_steps = models.JSONField(default=list, blank=True)
    test_requested_at = models.DateTimeField(null=True, blank=True)
    test_finished_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "mail server account"
        indexes = [models.Index(fields=["test_status", "next_attempt_at"])]

    def __str__(self) -> str:
        if self.kind == ServerKind.EXCHANGE:
            system = self.exchange_system
            return (
                f"{self.get_protocol_display()} Exchange Online: {self.shared_mailbox or (system and system.mailbox)}"
            )
        return f"{self.get_protocol_display()} {self.host}:{self.port_or_default}"

    @property
    def has_password(self) -> bool:
        return bool(self.password)

    @property
    def port_or_default(self) -> int:
        return self.port or DEFAULT_PORTS[(Protocol(self.protocol), Security(self.security))]

    @property
    def test_results(self) -> list[ConnectionTestStep]:
        """The steps of the last connection test, as `test_steps` holds them."""
        return [
            ConnectionTestStep(
                name=str(step.get("name", "")),
                status=ConnectionTestStatus.OK if step.get("ok") else ConnectionTestStatus.FAILED,
                detail=str(step.get("detail", "")),
                fix_url=str(step.get("fix_url") or ""),
            )
            for step in self.test_steps
        ]


@dataclass(frozen=True)
class ConnectionTestStep:
    name: str
    status: ConnectionTestStatus
    detail: str
    fix_url: str
