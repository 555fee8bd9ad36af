"""SMTP submission: Exchange Online with AUTH XOAUTH2, or a custom SMTP server with a user name and password.

The only code of the portal that imports smtplib. It takes plain values (host, port, security, the mailbox and
its access token or a password) and raises `microsoft.errors` exceptions with an explanation an admin can act on:

- `SmtpAuthDisabled` (535 5.7.139): SMTP AUTH is off for the Microsoft tenant or the mailbox.
- `SmtpAuthenticationFailed` (535 5.7.3 and other 535s): the sign-in was refused.
- `SmtpSendAsDenied` (550 5.7.60, 554 5.2.252): the mailbox may not send as the From address.
- `SmtpRejected`: any other permanent (5xx) refusal, e.g. a recipient.
- `errors.TransientError`: connection failures, timeouts and 4xx answers (including throttling): retry later.
- `errors.ConfigurationError`: TLS that cannot be verified or negotiated, no usable AUTH mechanism, a server that
  does not speak SMTP, a password that would cross without TLS; `HostRefused` for a tenant's server whose address
  is not public (microsoft.mail_connection).

Every connection is made by microsoft.mail_connection: a server a tenant typed is checked and reached only at the
checked address, and each conversation has a connect timeout, a read timeout and a time limit in all. What a
server said is shown as one short printable line, and never a greeting that is not SMTP.

Reference: https://learn.microsoft.com/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from microsoft import config, errors
from microsoft.mail_connection import (
    Security,
    TenantServerRules,
    TimeLimit,
    connection_lost,
    open_endpoint,
    reply_line,
    tls_context,
    xoauth2_string,
)

__all__ = [
    "SMTP_SEND_SCOPE",
    "Login",
    "OutgoingMessage",
    "PasswordLogin",
    "SmtpAuthDisabled",
    "SmtpAuthenticationFailed",
    "SmtpRejected",
    "SmtpSendAsDenied",
    "SmtpServer",
    "XOAuth2Login",
    "exchange_server",
    "smtp_send",
]

logger = logging.getLogger(__name__)

SMTP_SEND_SCOPE = f"{config.OUTLOOK_RESOURCE}/SMTP.Send"
DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_TIME_LIMIT = 120.0  # one session: connect, secure, sign in, send
_SMTP_AUTH_HOW_TO = (
    "Enable Authenticated SMTP for the mailbox {mailbox}: in the Microsoft 365 admin center open Users > Active "
    "users > the mailbox > Mail > Manage email apps, tick Authenticated SMTP and save; or in Exchange Online "
    "PowerShell run: Set-CASMailbox -Identity {mailbox} -SmtpClientAuthenticationDisabled $false"
)


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: Security = Security.STARTTLS
    ca_bundle: str | None = None  # None: the system's trust store
    timeout: float = DEFAULT_TIMEOUT  # each read
    is_exchange: bool = False  # explanations speak of Exchange Online and its settings
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    time_limit: float = DEFAULT_TIME_LIMIT
    # A server a tenant typed is checked against the operator's rules; None only for the operator's own endpoints.
    rules: TenantServerRules | None = field(default_factory=config.tenant_server_rules)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class XOAuth2Login:
    """Sign in as `mailbox` (the connected mailbox, or a shared mailbox it may send as) with an Outlook token."""

    mailbox: str
    access_token: str = field(repr=False)


@dataclass(frozen=True)
class PasswordLogin:
    username: str
    password: str = field(repr=False)


Login = XOAuth2Login | PasswordLogin | None


@dataclass(frozen=True)
class OutgoingMessage:
    """One message as it goes on the wire: the envelope and the RFC 5322 bytes."""

    envelope_from: str
    recipients: tuple[str, ...]
    data: bytes = field(repr=False)


# --- errors ------------------------------------------------------------------------------------------------


class _SmtpReply:
    """The server's answer that caused an error: `smtp_code` 535, `enhanced_code` "5.7.3", its first line."""

    smtp_code: int | None = None
    enhanced_code: str = ""


class SmtpAuthenticationFailed(errors.ConfigurationError, _SmtpReply):
    """535: the server refused the sign-in (Exchange: 5.7.3)."""


class SmtpAuthDisabled(errors.ConfigurationError, _SmtpReply):
    """535 5.7.139: SMTP AUTH is disabled for the Microsoft tenant (or the mailbox)."""


class SmtpSendAsDenied(errors.ConfigurationError, _SmtpReply):
    """The signed-in mailbox may not send as the sender address."""


class SmtpRejected(errors.MicrosoftError, _SmtpReply):
    """A permanent refusal of the message or a recipient: sending it again will not help."""

    permanent = True


class SmtpTransientError(errors.TransientError, _SmtpReply):
    """A 4xx answer: the server asks to try again later (busy, throttled, temporary failure)."""


def _reply_parts(code: int | None, reply: bytes | str | None) -> tuple[str, str]:
    """(enhanced status code, first line of the reply as short printable text)."""
    first = reply_line(reply)
    enhanced = first.split(" ", 1)[0] if first[:1].isdigit() and first.split(" ", 1)[0].count(".") == 2 else ""
    return enhanced, first


def _error(
    error_class: type[errors.MicrosoftError], explanation: str, code: int | None, reply: bytes | str | None
) -> errors.MicrosoftError:
    enhanced, first_line = _reply_parts(code, reply)
    error = error_class(
        explanation,
        error=f"{code} {enhanced}".strip() if code else "",
        description=f"{code} {first_line}".strip() if code else first_line,
    )
    if isinstance(error, _SmtpReply):
        error.smtp_code, error.enhanced_code = code, enhanced
    return error


def _auth_error(server: SmtpServer, login: Login, code: int, reply: bytes | str) -> errors.MicrosoftError:
    enhanced, first_line = _reply_parts(code, reply)
    if code < 500:
        return _error(
            SmtpTransientError,
            f"The SMTP server {server.address} could not check the sign-in right now ({code} {first_line}). "
            "It will be retried automatically.",
            code,
            reply,
        )
    if isinstance(login, XOAuth2Login):
        if enhanced == "5.7.139":
            return _error(
                SmtpAuthDisabled,
                "SMTP AUTH is disabled for your Microsoft tenant, so Exchange Online refuses to send mail for "
                f"{login.mailbox} (535 5.7.139). " + _SMTP_AUTH_HOW_TO.format(mailbox=login.mailbox) + ".",
                code,
                reply,
            )
        return _error(
            SmtpAuthenticationFailed,
            f"Exchange Online refused to sign in {login.mailbox} for sending ({code} {enhanced or 'error'}). "
            "Check that the mailbox exists and has an Exchange Online license; that Authenticated SMTP is "
            "enabled for it (" + _SMTP_AUTH_HOW_TO.format(mailbox=login.mailbox) + "); for a shared mailbox, "
            "that the connected account has Send As permission on it; and that the app has the SMTP.Send "
            "permission.",
            code,
            reply,
        )
    username = login.username if login else ""
    return _error(
        SmtpAuthenticationFailed,
        f"The SMTP server {server.address} refused the user name {username!r} or its password "
        f"({code} {enhanced or 'error'}). Check the user name and enter the password again.",
        code,
        reply,
    )


def _send_error(server: SmtpServer, code: int, reply: bytes | str, what: str) -> errors.MicrosoftError:
    enhanced, first_line = _reply_parts(code, reply)
    if code < 500:
        return _error(
            SmtpTransientError,
            f"The SMTP server {server.address} asked to try again later ({first_line or code}). "
            "It will be retried automatically.",
            code,
            reply,
        )
    if enhanced in ("5.7.60", "5.2.252") or "SendAsDenied" in first_line:
        return _error(
            SmtpSendAsDenied,
            f"The mailbox is not allowed to send as {what} ({code} {enhanced}). Use the mailbox's own address "
            "as the From address, or grant the connected account Send As permission on that mailbox "
            "(Exchange admin center > Recipients > Mailboxes > the mailbox > Delegation > Send as).",
            code,
            reply,
        )
    return _error(
        SmtpRejected,
        f"The SMTP server {server.address} refused the message for {what} ({first_line or code}).",
        code,
        reply,
    )


def _connection_error(
    server: SmtpServer, exc: BaseException, time_limit: TimeLimit | None = None
) -> errors.MicrosoftError:
    label = f"the SMTP server {server.address}"
    if time_limit is not None and time_limit.expired:
        return time_limit.exceeded(label)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return errors.ConfigurationError(
            f"The certificate of the SMTP server {server.address} could not be verified "
            f"({exc.verify_message}). Check the host name; if the server uses a private certificate "
            "authority, configure its CA bundle.",
            error="tls_error",
        )
    if isinstance(exc, ssl.SSLError):
        return errors.ConfigurationError(
            f"TLS could not be negotiated with the SMTP server {server.address} ({exc.reason}). Check the port "
            "and the security setting: STARTTLS usually uses port 587, SSL/TLS port 465.",
            error="tls_error",
        )
    return connection_lost(label, exc, closed=(smtplib.SMTPServerDisconnected,))


# --- the client ----------------------------------------------------------------------------------------------


def exchange_server(*, timeout: float = DEFAULT_TIMEOUT) -> SmtpServer:
    """Exchange Online's SMTP submission endpoint from settings (microsoft.config: host, port 587), STARTTLS."""
    endpoints = config.endpoints()
    return SmtpServer(
        host=endpoints.smtp_host,
        port=endpoints.smtp_port,
        security=Security.STARTTLS,
        ca_bundle=endpoints.ca_bundle,
        timeout=timeout,
        is_exchange=True,
        rules=None,  # the operator's endpoint from settings
    )


class _SMTP(smtplib.SMTP):
    """smtplib's client on a socket from microsoft.mail_connection (checked address, time limit)."""

    def __init__(self, server: SmtpServer, time_limit: TimeLimit, **kwargs: Any) -> None:
        self.server, self.time_limit = server, time_limit
        super().__init__(timeout=server.timeout, **kwargs)
        self._host = server.host  # what STARTTLS and SSL verify the certificate against (SNI too)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return open_endpoint(self.server, self.time_limit)


class _SMTP_SSL(smtplib.SMTP_SSL):
    def __init__(self, server: SmtpServer, time_limit: TimeLimit, **kwargs: Any) -> None:
        self.server, self.time_limit = server, time_limit
        super().__init__(timeout=server.timeout, **kwargs)
        self._host = server.host

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # TLS verifies the certificate against the host name, whatever address the connection went to.
        return self.context.wrap_socket(open_endpoint(self.server, self.time_limit), server_hostname=self._host)  # type: ignore[attr-defined]


def _greeted(client: smtplib.SMTP, server: SmtpServer) -> None:
    """Connect and read the greeting; a greeting that is not an SMTP reply is never shown (it could be any
    service's banner)."""
    try:
        code, greeting = client.connect(server.host, server.port)
    except BaseException:
        client.close()
        raise
    if code == 220:
        return
    client.close()
    if code < 0:
        raise errors.ConfigurationError(
            f"The server at {server.address} does not answer like an SMTP server. Check the host and the port "
            "(587 for STARTTLS, 465 for SSL/TLS).",
            error="not_smtp",
        )
    raise smtplib.SMTPConnectError(code, greeting)  # an SMTP refusal (421, 554): its reply line is shown


def _connect(server: SmtpServer, time_limit: TimeLimit) -> smtplib.SMTP:
    local_name = socket.gethostname()  # getfqdn() can stall on a DNS lookup
    if server.security == Security.SSL:
        secure = _SMTP_SSL(server, time_limit, local_hostname=local_name, context=tls_context(server))
        _greeted(secure, server)
        secure.ehlo()
        return secure
    client = _SMTP(server, time_limit, local_hostname=local_name)
    _greeted(client, server)
    if server.security == Security.STARTTLS:
        client.ehlo()
        if not client.has_extn("starttls"):
            client.close()
            raise errors.ConfigurationError(
                f"The SMTP server {server.address} does not offer STARTTLS. Choose the security it supports "
                "(SSL/TLS on port 465, or none).",
                error="starttls_unsupported",
            )
        client.starttls(context=tls_context(server))
    client.ehlo()
    return client


def _authenticate(client: smtplib.SMTP, server: SmtpServer, login: Login) -> None:
    if login is None:
        return
    if not isinstance(client.sock, ssl.SSLSocket) and not (server.rules and server.rules.allow_plaintext_login):
        raise errors.ConfigurationError(
            f"The SMTP server {server.address} would receive the password without TLS: choose STARTTLS or "
            "SSL/TLS. Roger never sends a password over an unencrypted connection.",
            error="plaintext_login",
        )
    sent = (login.mailbox, login.access_token) if isinstance(login, XOAuth2Login) else (login.username, login.password)
    if any(ch in value for value in sent for ch in "\r\n\0"):
        raise errors.ConfigurationError(
            "The user name or password contains a line break, which SMTP cannot carry. Enter them again.",
            error="login_line_break",
        )
    offered = client.esmtp_features.get("auth", "").upper().split()
    if isinstance(login, XOAuth2Login):
        if "XOAUTH2" not in offered:
            raise errors.ConfigurationError(
                f"The SMTP server {server.address} does not offer AUTH XOAUTH2 (it offers: "
                f"{reply_line(' '.join(offered)) or 'no AUTH'}). Check the Outlook SMTP host and port settings.",
                error="xoauth2_unsupported",
            )
        sasl = xoauth2_string(login.mailbox, login.access_token)
        # An empty answer to a 334 error challenge ends the exchange, as Exchange and Gmail expect.
        client.auth("XOAUTH2", lambda challenge=None: sasl if challenge is None else "", initial_response_ok=True)
        return
    if not offered:
        raise errors.ConfigurationError(
            f"The SMTP server {server.address} does not offer authentication on this connection. Check the "
            "security setting (many servers offer AUTH only after STARTTLS), or leave the user name empty.",
            error="auth_unsupported",
        )
    client.login(login.username, login.password)


@contextmanager
def _session(*, server: SmtpServer, login: Login) -> Iterator[smtplib.SMTP]:
    """A connected, secured and authenticated SMTP client for `_deliver`, within the server's time limit."""
    client: smtplib.SMTP | None = None
    time_limit = TimeLimit(server.time_limit)
    try:
        try:
            client = _connect(server, time_limit)
            _authenticate(client, server, login)
        except errors.MicrosoftError:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise _auth_error(server, login, exc.smtp_code, exc.smtp_error) from None
        except smtplib.SMTPResponseException as exc:  # e.g. a 421 greeting, or 4xx/5xx to EHLO or STARTTLS
            if time_limit.expired:
                raise _connection_error(server, exc, time_limit) from None
            raise _send_error(server, exc.smtp_code, exc.smtp_error, "this connection") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise _connection_error(server, exc, time_limit) from None
        yield client
    finally:
        if client is not None:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()
        time_limit.close()


def _deliver(client: smtplib.SMTP, server: SmtpServer, message: OutgoingMessage) -> dict[str, tuple[int, bytes]]:
    """Send one message; returns the recipients the server refused when others were accepted."""
    try:
        refused = client.sendmail(message.envelope_from, list(message.recipients), message.data)
    except smtplib.SMTPSenderRefused as exc:
        raise _send_error(server, exc.smtp_code, exc.smtp_error, message.envelope_from) from None
    except smtplib.SMTPRecipientsRefused as exc:
        code, reply = next(iter(exc.recipients.values()))
        raise _send_error(server, code, reply, ", ".join(exc.recipients)) from None
    except smtplib.SMTPDataError as exc:
        raise _send_error(server, exc.smtp_code, exc.smtp_error, message.envelope_from) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise _connection_error(server, exc, getattr(client, "time_limit", None)) from None
    logger.info(
        "SMTP %s accepted a message from %s for %d recipient(s)",
        server.address,
        message.envelope_from,
        len(message.recipients) - len(refused),
    )
    return {address: (code, reply) for address, (code, reply) in refused.items()}


def smtp_send(*, server: SmtpServer, login: Login, message: OutgoingMessage) -> dict[str, tuple[int, bytes]]:
    """Connect, secure, sign in and send one message. Returns recipients refused while others were accepted."""
    with _session(server=server, login=login) as client:
        return _deliver(client, server, message)
