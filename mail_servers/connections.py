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

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

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


@dataclass(frozen=True)
class _SignIn:
    username: str  # Exchange: the mailbox (connected or shared); otherwise the user name ("": no sign-in)
    password: str = field(default="", repr=False)
    exchange_system: ExternalSystem | None = None

    def token(self, scope: str, *, refresh: bool) -> str:
        assert self.exchange_system is not None
        return exchange_access_token(system=self.exchange_system, scopes=[scope], force_refresh=refresh)


@dataclass(frozen=True)
class SmtpConnection:
    server: SmtpServer
    sign_in: _SignIn

    @property
    def mailbox(self) -> str:
        """Who signs in: the mailbox Exchange sends as, or the user name ("" for a server without sign-in)."""
        return self.sign_in.username

    @property
    def exchange_system(self) -> ExternalSystem | None:
        return self.sign_in.exchange_system

    @property
    def is_exchange(self) -> bool:
        return self.sign_in.exchange_system is not None

    def login(self, *, refresh_token: bool = False) -> Login:
        if self.is_exchange:
            return XOAuth2Login(self.mailbox, self.sign_in.token(SMTP_SEND_SCOPE, refresh=refresh_token))
        return PasswordLogin(self.mailbox, self.sign_in.password) if self.mailbox else None


@dataclass(frozen=True)
class MailboxConnection:
    server: MailServer
    sign_in: _SignIn
    folder: str

    @property
    def mailbox(self) -> str:
        return self.sign_in.username

    @property
    def sign_in_label(self) -> str:
        method = "OAuth (XOAUTH2)" if self.sign_in.exchange_system is not None else "a password"
        return f"{self.mailbox} with {method}"

    def login(self) -> MailLogin:
        if self.sign_in.exchange_system is not None:
            token = self.sign_in.token(exchange_scope(self.server.protocol), refresh=False)
            return MailLogin(self.mailbox, access_token=token)
        return MailLogin(self.mailbox, password=self.sign_in.password)


def smtp_connection(account: MailServerAccount) -> SmtpConnection:
    if account.protocol != Protocol.SMTP:
        raise ValueError(f"{account} is not an SMTP server")
    if account.kind == ServerKind.EXCHANGE:
        # The mailbox signs in (XOAUTH2 user=) and is the From address: one spelling for both.
        sign_in = _exchange_sign_in(account)
        return SmtpConnection(exchange_smtp_server(), replace(sign_in, username=sign_in.username.lower()))
    _require_host(account)
    limits = tenant_mail_limits()
    server = SmtpServer(
        host=account.host,
        port=account.port_or_default,
        security=Security(account.security),
        ca_bundle=settings.CUSTOM_MAIL_CA_BUNDLE,
        timeout=limits.read_timeout,
        connect_timeout=limits.connect_timeout,
        time_limit=limits.smtp_time_limit,
    )
    return SmtpConnection(server, _SignIn(account.username, account.password if account.username else ""))


def mailbox_connection(account: MailServerAccount, *, folder: str = "INBOX") -> MailboxConnection:
    """The mailbox to read; POP3 always reads the inbox, whatever `folder` says."""
    protocol = MailProtocol(account.protocol)  # ValueError for SMTP
    folder = folder if protocol == MailProtocol.IMAP else "INBOX"
    if account.kind == ServerKind.EXCHANGE:
        return MailboxConnection(exchange_mailbox_server(protocol), _exchange_sign_in(account), folder)
    _require_host(account)
    if not account.username:
        raise MailServerNotConfigured("Enter the mail server's host and the user name to sign in with.")
    limits = tenant_mail_limits()
    server = MailServer(
        protocol=protocol,
        host=account.host,
        port=account.port_or_default,
        security=Security(account.security),
        ca_bundle=settings.CUSTOM_MAIL_CA_BUNDLE,
        timeout=limits.read_timeout,
        connect_timeout=limits.connect_timeout,
        time_limit=limits.mailbox_time_limit,
    )
    return MailboxConnection(server, _SignIn(account.username, account.password), folder)


def _require_host(account: MailServerAccount) -> None:
    if not account.host:
        raise MailServerNotConfigured("Enter the mail server's host and the user name to sign in with.")


def _exchange_sign_in(account: MailServerAccount) -> _SignIn:
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
    return _SignIn(account.shared_mailbox or system.mailbox, exchange_system=system)
