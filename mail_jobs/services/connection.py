"""Where a source's mail is read from, and as whom: the server and the sign-in, resolved at poll time."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from mail_jobs.choices import Security, ServerKind
from mail_jobs.models import MailJobSource
from microsoft.config import tenant_mail_limits
from microsoft.mailbox import (
    MailLogin,
    MailProtocol,
    MailSecurity,
    MailServer,
    exchange_scope,
    exchange_server,
)

DEFAULT_PORTS = {
    (MailProtocol.IMAP, True): 993,
    (MailProtocol.IMAP, False): 143,
    (MailProtocol.POP3, True): 995,
    (MailProtocol.POP3, False): 110,
}


class SourceNotConfigured(Exception):
    """The settings are incomplete; the message says what to fill in."""


@dataclass(frozen=True)
class SourceConnection:
    server: MailServer
    login: MailLogin
    folder: str

    @property
    def sign_in_label(self) -> str:
        method = "OAuth (XOAUTH2)" if self.login.access_token else "a password"
        return f"{self.login.username} with {method}"


def default_port(protocol: str, security: str) -> int:
    return DEFAULT_PORTS[(MailProtocol(protocol), security == Security.SSL)]


def source_connection(source: MailJobSource) -> SourceConnection:
    """The server and sign-in of a source. For Exchange Online this asks the token store for an access token:
    it raises credentials.errors.CredentialUnavailable when the system must be reconnected and
    microsoft.errors.TransientError when Microsoft cannot be reached."""
    protocol = MailProtocol(source.protocol)
    folder = source.folder if protocol == MailProtocol.IMAP else "INBOX"
    if source.server_kind == ServerKind.EXCHANGE:
        return _exchange(source, protocol, folder)
    return _custom(source, protocol, folder)


def _exchange(source: MailJobSource, protocol: MailProtocol, folder: str) -> SourceConnection:
    from external_systems.services import exchange_access_token

    system = source.exchange_system
    if system is None or system.tenant_id != source.tenant_id:
        raise SourceNotConfigured("Choose a connected Microsoft Exchange Online system in the settings.")
    if not system.mailbox:
        raise SourceNotConfigured(f"The external system {system.title} is not connected yet. Connect it first.")
    token = exchange_access_token(system=system, scopes=[exchange_scope(protocol)])
    mailbox = source.shared_mailbox or system.mailbox
    return SourceConnection(exchange_server(protocol), MailLogin(mailbox, access_token=token), folder)


def _custom(source: MailJobSource, protocol: MailProtocol, folder: str) -> SourceConnection:
    if not source.custom_host or not source.custom_username:
        raise SourceNotConfigured("Enter the mail server's host and the user name to sign in with.")
    limits = tenant_mail_limits()
    server = MailServer(  # checked against the operator's rules when it connects (microsoft.mail_connection)
        protocol=protocol,
        host=source.custom_host,
        port=source.custom_port or default_port(source.protocol, source.custom_security),
        security=MailSecurity(source.custom_security),
        ca_bundle=settings.CUSTOM_MAIL_CA_BUNDLE,
        timeout=limits.read_timeout,
        connect_timeout=limits.connect_timeout,
        time_limit=limits.mailbox_time_limit,
    )
    return SourceConnection(server, MailLogin(source.custom_username, password=source.custom_password), folder)
