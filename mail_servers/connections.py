"""From a mail server account to what microsoft/ connects with: the one place that reads an account's settings.

`smtp_connection(account)` and `mailbox_connection(account, folder=...)` give the server (Exchange Online's
endpoint from settings, or the host the tenant typed, checked again by microsoft.mail_connection when it
connects) and who signs in, without any network call. `.login()` then gives the sign-in: a password, or for
Exchange Online a fresh token from the token store, fetched right before it is used (`refresh_token=True` when
Exchange refused the one we held).

Raises `MailServerNotConfigured` (the settings are incomplete or the Exchange system is gone: the message says
what to do); `.login()` raises credentials.errors.CredentialUnavailable when the Exchange system must be
reconnected, and microsoft.errors.TransientError when Microsoft cannot be reached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings

from external_systems.services import exchange_access_token
from mail_servers.choices import Protocol, ServerKind
from microsoft.config import tenant_mail_limits
from microsoft.mail_connection import Security
from microsoft.mailbox import MailLogin, MailProtocol, MailServer, exchange_scope
from microsoft.mailbox import exchange_server as exchange_mailbox_server
from microsoft.smtp import SMTP_SEND_SCOPE, Login, PasswordLogin, SmtpServer, XOAuth2Login
from microsoft.smtp import exchange_server as exchange_smtp_server

if TYPE_CHECKING:
    from external_systems.models import ExternalSystem
    from mail_servers.models import MailServerAccount

__all__ = ["MailServerNotConfigured", "MailboxConnection", "SmtpConnection", "mailbox_connection", "smtp_connection"]


class MailServerNotConfigured(Exception):
    """The account cannot be used as it is; the message says what to fill in or connect."""


@dataclass(frozen=True, kw_only=True)
class _Connection:
    """Who signs in: for Exchange Online the mailbox (connected or shared) with a token of the system's; otherwise
    the user name ("" for a server that takes mail without a sign-in) and its password."""

    mailbox: str
    password: str = field(default="", repr=False)
    exchange_system: ExternalSystem | None = None

    @property
    def is_exchange(self) -> bool:
        return self.exchange_system is not None

    def _token(self, scope: str, *, refresh: bool) -> str:
        assert self.exchange_system is not None
        return exchange_access_token(system=self.exchange_system, scopes=[scope], force_refresh=refresh)


@dataclass(frozen=True, kw_only=True)
class SmtpConnection(_Connection):
    server: SmtpServer

    def login(self, *, refresh_token: bool = False) -> Login:
        if self.is_exchange:
            return XOAuth2Login(self.mailbox, self._token(SMTP_SEND_SCOPE, refresh=refresh_token))
        return PasswordLogin(self.mailbox, self.password) if self.mailbox else None


@dataclass(frozen=True, kw_only=True)
class MailboxConnection(_Connection):
    server: MailServer
    folder: str

    @property
    def sign_in_label(self) -> str:
        return f"{self.mailbox} with {'OAuth (XOAUTH2)' if self.is_exchange else 'a password'}"

    def login(self) -> MailLogin:
        if self.is_exchange:
            return MailLogin(
                self.mailbox, access_token=self._token(exchange_scope(self.server.protocol), refresh=False)
            )
        return MailLogin(self.mailbox, password=self.password)


def smtp_connection(account: MailServerAccount) -> SmtpConnection:
    if account.protocol != Protocol.SMTP:
        raise ValueError(f"{account} is not an SMTP server")
    if account.kind == ServerKind.EXCHANGE:
        # The mailbox signs in (XOAUTH2 user=) and is the From address: one spelling for both.
        mailbox, system = _exchange_mailbox(account)
        return SmtpConnection(server=exchange_smtp_server(), mailbox=mailbox.lower(), exchange_system=system)
    server = SmtpServer(**_typed_server(account, time_limit=tenant_mail_limits().smtp_time_limit))
    return SmtpConnection(server=server, mailbox=account.username, password=account.password)


def mailbox_connection(account: MailServerAccount, *, folder: str = "INBOX") -> MailboxConnection:
    """The mailbox to read; POP3 always reads the inbox, whatever `folder` says."""
    protocol = MailProtocol(account.protocol)  # ValueError for SMTP
    folder = folder if protocol == MailProtocol.IMAP else "INBOX"
    if account.kind == ServerKind.EXCHANGE:
        mailbox, system = _exchange_mailbox(account)
        server = exchange_mailbox_server(protocol)
        return MailboxConnection(server=server, folder=folder, mailbox=mailbox, exchange_system=system)
    if not account.username:
        raise MailServerNotConfigured("Enter the mail server's host and the user name to sign in with.")
    server = MailServer(protocol=protocol, **_typed_server(account, time_limit=tenant_mail_limits().mailbox_time_limit))
    return MailboxConnection(server=server, folder=folder, mailbox=account.username, password=account.password)


def _typed_server(account: MailServerAccount, *, time_limit: float) -> dict[str, Any]:
    """How a server the tenant typed is reached: its address and security, the operator's CA bundle and time
    limits (microsoft.mail_connection checks the address against the operator's rules when it connects)."""
    if not account.host:
        raise MailServerNotConfigured("Enter the mail server's host and the user name to sign in with.")
    limits = tenant_mail_limits()
    return {
        "host": account.host,
        "port": account.port_or_default,
        "security": Security(account.security),
        "ca_bundle": settings.CUSTOM_MAIL_CA_BUNDLE,
        "timeout": limits.read_timeout,
        "connect_timeout": limits.connect_timeout,
        "time_limit": time_limit,
    }


def _exchange_mailbox(account: MailServerAccount) -> tuple[str, ExternalSystem]:
    """The mailbox that signs in (the shared one, else the connected one) and the system whose token it uses."""
    system = account.exchange_system
    if system is None or system.tenant_id != account.tenant_id:
        raise MailServerNotConfigured(
            "No connected Microsoft Exchange Online system is chosen (none was chosen, or it was deleted). "
            "Connect one in Settings > External Systems and choose it in the settings."
        )
    if not system.is_connected or not system.mailbox:
        raise MailServerNotConfigured(
            f"The Exchange Online system “{system.title}” is not connected (it was disconnected, or never "
            "finished connecting). Connect it in Settings > External Systems."
        )
    return account.shared_mailbox or system.mailbox, system
