"""Reading a mailbox over IMAP or POP3: Exchange Online with XOAUTH2, or any server with a password.

Exchange Online takes implicit TLS (IMAP 993, POP3 995) and ``AUTHENTICATE XOAUTH2`` / ``AUTH XOAUTH2`` with an
Outlook access token (protocols.md §4). Custom servers use LOGIN/USER+PASS over implicit TLS, STARTTLS or nothing.
Errors are classified: `MailboxAuthFailed` (a person must fix the sign-in; the explanation says how),
`MailboxConfigurationError` (a folder that does not exist, an untrusted certificate), and
`microsoft.errors.TransientError` (unreachable, timed out, dropped: try again at the next poll).

Reference: https://learn.microsoft.com/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth
"""

from __future__ import annotations

import base64
import imaplib
import logging
import poplib
import re
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from microsoft.config import OUTLOOK_RESOURCE, endpoints
from microsoft.errors import MicrosoftError, TransientError

__all__ = [
    "IMAP_SCOPE",
    "POP_SCOPE",
    "MailLogin",
    "MailProtocol",
    "MailSecurity",
    "MailServer",
    "Mailbox",
    "MailboxAuthFailed",
    "MailboxConfigurationError",
    "MessageRef",
    "exchange_scope",
    "exchange_server",
    "open_mailbox",
    "xoauth2_string",
]

logger = logging.getLogger(__name__)


IMAP_SCOPE = f"{OUTLOOK_RESOURCE}/IMAP.AccessAsUser.All"
POP_SCOPE = f"{OUTLOOK_RESOURCE}/POP.AccessAsUser.All"


class MailProtocol(StrEnum):
    IMAP = "imap"
    POP3 = "pop3"


class MailSecurity(StrEnum):
    SSL = "ssl"  # implicit TLS
    STARTTLS = "starttls"
    NONE = "none"


class MailboxAuthFailed(MicrosoftError):
    """The server refused the sign-in; retrying will not help until someone fixes the account or permissions."""


class MailboxConfigurationError(MicrosoftError):
    """The server answered, but the settings do not fit it (a missing folder, an untrusted certificate)."""


@dataclass(frozen=True)
class MailServer:
    protocol: MailProtocol
    host: str
    port: int
    security: MailSecurity = MailSecurity.SSL
    ca_bundle: str | None = None
    timeout: float = 30.0

    @property
    def label(self) -> str:
        return f"{self.protocol.value.upper()} {self.host}:{self.port}"


@dataclass(frozen=True)
class MailLogin:
    """Who signs in: a mailbox address with an OAuth access token (XOAUTH2), or a user name and password."""

    username: str
    password: str | None = None
    access_token: str | None = None

    def __repr__(self) -> str:  # keep secrets out of logs and tracebacks
        kind = "token" if self.access_token else "password"
        return f"MailLogin(username={self.username!r}, {kind}='***')"


@dataclass(frozen=True)
class MessageRef:
    """One message as the server lists it. `key` is stable across sessions: "<UIDVALIDITY>:<UID>" or the UIDL."""

    key: str
    size: int
    uid: str = ""  # IMAP
    number: int = 0  # POP3 message number, valid in this session only


class Mailbox(Protocol):
    server: MailServer

    def messages(self, *, unseen_only: bool = False) -> list[MessageRef]: ...
    def fetch(self, ref: MessageRef) -> bytes: ...
    def fetch_headers(self, ref: MessageRef) -> bytes: ...
    def delete(self, ref: MessageRef) -> None: ...
    def move(self, ref: MessageRef, folder: str) -> None: ...
    def mark_read(self, ref: MessageRef) -> None: ...
    def folder_exists(self, folder: str) -> bool: ...
    def close(self) -> None: ...


def exchange_scope(protocol: MailProtocol) -> str:
    """The delegated permission an Outlook token needs for the protocol."""
    return IMAP_SCOPE if protocol == MailProtocol.IMAP else POP_SCOPE


def exchange_server(protocol: MailProtocol) -> MailServer:
    """Exchange Online's IMAP or POP3 endpoint from settings (implicit TLS, the configured CA bundle)."""
    config = endpoints()
    host, port = (
        (config.imap_host, config.imap_port) if protocol == MailProtocol.IMAP else (config.pop_host, config.pop_port)
    )
    return MailServer(protocol, host, port, MailSecurity.SSL, config.ca_bundle, max(config.http_timeout, 30.0))


def xoauth2_string(username: str, access_token: str) -> str:
    """The SASL XOAUTH2 initial response, before base64: ``user=...^Aauth=Bearer ...^A^A``."""
    return f"user={username}\x01auth=Bearer {access_token}\x01\x01"


@contextmanager
def open_mailbox(server: MailServer, login: MailLogin, *, folder: str = "INBOX") -> Iterator[Mailbox]:
    """Connect, sign in and (IMAP) select `folder`; close (POP3: commit deletions) when the block ends."""
    mailbox: Mailbox
    with _classified(server):
        if server.protocol == MailProtocol.IMAP:
            mailbox = _ImapMailbox(server, login, folder)
        else:
            mailbox = _Pop3Mailbox(server, login)
    try:
        yield mailbox
    except BaseException:
        with _classified(server):
            _quietly(mailbox, commit=False)
        raise
    with _classified(server):
        mailbox.close()


# --- errors ---------------------------------------------------------------------------------------------------


@contextmanager
def _classified(server: MailServer) -> Iterator[None]:
    try:
        yield
    except MicrosoftError:
        raise
    except ssl.SSLCertVerificationError as exc:
        raise MailboxConfigurationError(
            f"The certificate of {server.host} is not trusted ({exc.verify_message}). Check the host name, or "
            "ask the mail server's administrator for a certificate from a public authority."
        ) from exc
    except TimeoutError as exc:
        raise TransientError(f"{server.label} did not answer in time. It will be tried again.") from exc
    except (OSError, EOFError, imaplib.IMAP4.abort) as exc:
        raise TransientError(f"Could not talk to {server.label}: {exc}. It will be tried again.") from exc
    except (imaplib.IMAP4.error, poplib.error_proto) as exc:
        raise MailboxConfigurationError(f"{server.label} refused a command: {_text(exc)}") from exc


def _auth_failed(server: MailServer, login: MailLogin, answer: str) -> MailboxAuthFailed:
    if login.access_token:
        explanation = (
            f"Exchange Online refused the sign-in to {login.username} over {server.protocol.value.upper()} "
            f"({answer}). Check that the connected account can open this mailbox (for a shared mailbox it needs "
            f"Full Access), that {server.protocol.value.upper()} is enabled for the mailbox (Exchange admin center "
            "> Mailboxes > Manage email apps), and that the app has the IMAP.AccessAsUser.All and "
            "POP.AccessAsUser.All permissions; then reconnect the external system."
        )
    else:
        explanation = (
            f"{server.label} refused the user name or password for {login.username} ({answer}). "
            "Enter the correct password."
        )
    return MailboxAuthFailed(explanation, error="auth_failed", description=answer)


def _text(exc: BaseException) -> str:
    value = exc.args[0] if exc.args else exc
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _tls_context(server: MailServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=server.ca_bundle) if server.ca_bundle else ssl.create_default_context()


def _quietly(mailbox: Mailbox, *, commit: bool) -> None:
    try:
        if commit:
            mailbox.close()
        else:
            getattr(mailbox, "abandon", mailbox.close)()
    except (OSError, EOFError, imaplib.IMAP4.error, poplib.error_proto):
        logger.info("closing %s failed after an error", mailbox.server.label)


# --- IMAP -----------------------------------------------------------------------------------------------------

_FETCH_ITEM = re.compile(rb"UID (\d+).*?RFC822\.SIZE (\d+)|RFC822\.SIZE (\d+).*?UID (\d+)")


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _ImapMailbox:
    def __init__(self, server: MailServer, login: MailLogin, folder: str) -> None:
        self.server = server
        self.connection = self._connect()
        self._sign_in(login)
        self.uidvalidity = ""
        self.folder = folder
        self.selected = False

    def _connect(self) -> imaplib.IMAP4:
        server = self.server
        if server.security == MailSecurity.SSL:
            return imaplib.IMAP4_SSL(server.host, server.port, ssl_context=_tls_context(server), timeout=server.timeout)
        connection = imaplib.IMAP4(server.host, server.port, timeout=server.timeout)
        if server.security == MailSecurity.STARTTLS:
            connection.starttls(ssl_context=_tls_context(server))
        return connection

    def _sign_in(self, login: MailLogin) -> None:
        try:
            if login.access_token:
                self.connection.authenticate("XOAUTH2", _one_shot(xoauth2_string(login.username, login.access_token)))
            else:
                self.connection.login(login.username, login.password or "")
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as exc:
            raise _auth_failed(self.server, login, _text(exc)) from exc

    def folder_exists(self, folder: str) -> bool:
        with _classified(self.server):
            status, data = self.connection.list('""', _quote(folder))
        return status == "OK" and any(item for item in data if item)

    def _select(self) -> None:
        if self.selected:
            return
        with _classified(self.server):
            status, data = self.connection.select(_quote(self.folder))
            if status != "OK":
                raise MailboxConfigurationError(
                    f"The folder {self.folder!r} does not exist in the mailbox. Create it, or choose another folder.",
                    description=_text(Exception(*data)),
                )
            _, values = self.connection.response("UIDVALIDITY")
        self.uidvalidity = (values[0] or b"").decode() if values and values[0] else "0"
        self.selected = True

    def messages(self, *, unseen_only: bool = False) -> list[MessageRef]:
        """The folder's messages not flagged deleted (and unread, if asked), oldest first, with their sizes."""
        self._select()
        criteria = "(UNDELETED UNSEEN)" if unseen_only else "UNDELETED"
        with _classified(self.server):
            _, data = self.connection.uid("SEARCH", None, criteria)  # type: ignore[arg-type]
            uids = (data[0] or b"").split() if data else []
            if not uids:
                return []
            _, items = self.connection.uid("FETCH", b",".join(uids).decode(), "(UID RFC822.SIZE)")
        refs = []
        for item in items:
            line = item[0] if isinstance(item, tuple) else item
            match = _FETCH_ITEM.search(line or b"")
            if match:
                uid = (match.group(1) or match.group(4)).decode()
                size = int(match.group(2) or match.group(3))
                refs.append(MessageRef(key=f"{self.uidvalidity}:{uid}", size=size, uid=uid))
        return sorted(refs, key=lambda ref: int(ref.uid))

    def fetch(self, ref: MessageRef) -> bytes:
        return self._fetch(ref, "BODY.PEEK[]")  # PEEK: leave \Seen alone

    def fetch_headers(self, ref: MessageRef) -> bytes:
        return self._fetch(ref, "BODY.PEEK[HEADER]")

    def _fetch(self, ref: MessageRef, item_name: str) -> bytes:
        with _classified(self.server):
            _, data = self.connection.uid("FETCH", ref.uid, f"({item_name})")
        for item in data:
            if isinstance(item, tuple):
                return bytes(item[1])
        raise MailboxConfigurationError(f"The message {ref.key} disappeared from the folder before it was read.")

    def delete(self, ref: MessageRef) -> None:
        with _classified(self.server):
            self.connection.uid("STORE", ref.uid, "+FLAGS.SILENT", r"(\Deleted)")
            if "UIDPLUS" in self.connection.capabilities:
                self.connection.uid("EXPUNGE", ref.uid)
            else:
                self.connection.expunge()

    def move(self, ref: MessageRef, folder: str) -> None:
        with _classified(self.server):
            if "MOVE" in self.connection.capabilities:
                status, data = self.connection.uid("MOVE", ref.uid, _quote(folder))
            else:
                status, data = self.connection.uid("COPY", ref.uid, _quote(folder))
                if status == "OK":
                    self.delete(ref)
        if status != "OK":
            raise MailboxConfigurationError(
                f"Could not move the message to the folder {folder!r}: {_text(Exception(*data))}. "
                "Create the folder, or choose another one.",
            )

    def mark_read(self, ref: MessageRef) -> None:
        with _classified(self.server):
            self.connection.uid("STORE", ref.uid, "+FLAGS.SILENT", r"(\Seen)")

    def close(self) -> None:
        if self.selected:
            self.connection.close()
        self.connection.logout()

    def abandon(self) -> None:
        self.connection.shutdown()


def _one_shot(response: str) -> Callable[[bytes], bytes]:
    """imaplib's SASL callback: the XOAUTH2 string first; an empty reply to the server's error challenge."""
    sent = False

    def answer(_challenge: bytes) -> bytes:
        nonlocal sent
        if sent:
            return b""
        sent = True
        return response.encode()

    return answer


# --- POP3 -----------------------------------------------------------------------------------------------------


def _pop_command(connection: poplib.POP3, line: str) -> bytes:
    """Send one line and read a one-line answer; raises poplib.error_proto on "-ERR"."""
    shortcmd: Callable[[str], bytes] = connection._shortcmd  # type: ignore[attr-defined]
    return shortcmd(line)


class _Pop3Mailbox:
    def __init__(self, server: MailServer, login: MailLogin) -> None:
        self.server = server
        self.connection = self._connect()
        self._sign_in(login)

    def _connect(self) -> poplib.POP3:
        server = self.server
        if server.security == MailSecurity.SSL:
            return poplib.POP3_SSL(server.host, server.port, timeout=server.timeout, context=_tls_context(server))
        connection = poplib.POP3(server.host, server.port, timeout=server.timeout)
        if server.security == MailSecurity.STARTTLS:
            connection.stls(context=_tls_context(server))
        return connection

    def _sign_in(self, login: MailLogin) -> None:
        try:
            if login.access_token:
                self._xoauth2(login)
            else:
                self.connection.user(login.username)
                self.connection.pass_(login.password or "")
        except poplib.error_proto as exc:
            raise _auth_failed(self.server, login, _text(exc)) from exc

    def _xoauth2(self, login: MailLogin) -> None:
        # Exchange wants two steps (protocols.md §4): "AUTH XOAUTH2", "+", then the base64 string.
        # poplib has no SASL helper; _shortcmd sends a line and raises error_proto on "-ERR".
        _pop_command(self.connection, "AUTH XOAUTH2")
        encoded = base64.b64encode(xoauth2_string(login.username, login.access_token or "").encode()).decode()
        answer = _pop_command(self.connection, encoded)
        if answer.startswith(b"+ ") or answer == b"+":  # an error challenge: answer empty to get the -ERR
            _pop_command(self.connection, "")

    def folder_exists(self, folder: str) -> bool:
        return folder.upper() == "INBOX"  # POP3 sees the inbox only

    def messages(self, *, unseen_only: bool = False) -> list[MessageRef]:
        with _classified(self.server):
            _, sizes, _ = self.connection.list()
            _, uidls, _ = self.connection.uidl()  # type: ignore[misc]
        size_of = {int(n): int(s) for n, s in (line.split()[:2] for line in sizes)}
        refs = []
        for line in uidls:
            number, uidl = line.split()[:2]
            refs.append(MessageRef(key=uidl.decode(), size=size_of.get(int(number), 0), number=int(number)))
        return refs

    def fetch(self, ref: MessageRef) -> bytes:
        with _classified(self.server):
            _, lines, _ = self.connection.retr(ref.number)
        return b"\r\n".join(lines) + b"\r\n"

    def fetch_headers(self, ref: MessageRef) -> bytes:
        with _classified(self.server):
            _, lines, _ = self.connection.top(ref.number, 0)
        return b"\r\n".join(lines) + b"\r\n"

    def delete(self, ref: MessageRef) -> None:
        with _classified(self.server):
            self.connection.dele(ref.number)

    def move(self, ref: MessageRef, folder: str) -> None:
        raise MailboxConfigurationError("POP3 cannot move messages; choose Delete after processing.")

    def mark_read(self, ref: MessageRef) -> None:
        raise MailboxConfigurationError("POP3 cannot mark messages read; choose Delete after processing.")

    def close(self) -> None:
        self.connection.quit()  # QUIT commits the deletions

    def abandon(self) -> None:
        # Closing without QUIT: the server rolls back every DELE of this session, so nothing is lost.
        self.connection.close()
