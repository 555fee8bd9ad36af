"""Reading a mailbox over IMAP or POP3: Exchange Online with XOAUTH2, or any server with a password.

Exchange Online takes implicit TLS (IMAP 993, POP3 995) and ``AUTHENTICATE XOAUTH2`` / ``AUTH XOAUTH2`` with an
Outlook access token (protocols.md §4). Custom servers use LOGIN/USER+PASS over implicit TLS, STARTTLS or nothing.
Errors are classified: `MailboxAuthFailed` (a person must fix the sign-in; the explanation says how),
`MailboxConfigurationError` (a folder that does not exist, an untrusted certificate, a server that does not speak
the protocol, a password that would cross without TLS), `HostRefused` (a tenant's server whose address is not
public), and `microsoft.errors.TransientError` (unreachable, timed out, dropped: try again at the next poll).

Connections are made by microsoft.mail_connection: a server a tenant typed is checked and reached only at the
checked address; a session has a connect timeout, a read timeout and a time limit in all. A server's words are
shown as one short printable line, and a greeting in another protocol never.

What a server says about a message is a claim: a message is read with a cap (IMAP: a partial FETCH, literals read
in bounded pieces; POP3: RETR read line by line), so the worker never holds more than the cap of it in memory,
whatever size the server announced. Each message carries a URL naming the server, the account and the folder as
well as its UIDVALIDITY+UID or UIDL, so two mailboxes never share a message identity.

Reference: https://learn.microsoft.com/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth
"""

from __future__ import annotations

import base64
import hashlib
import imaplib
import logging
import poplib
import re
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import quote

from microsoft.config import OUTLOOK_RESOURCE, endpoints, tenant_server_rules
from microsoft.errors import MicrosoftError, TransientError
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
    "HEADER_LIMIT",
    "IMAP_SCOPE",
    "POP_SCOPE",
    "FetchedBatch",
    "FetchedMessage",
    "MailLogin",
    "MailProtocol",
    "MailServer",
    "Mailbox",
    "MailboxAuthFailed",
    "MailboxConfigurationError",
    "MessageRef",
    "MessageUnavailable",
    "exchange_scope",
    "exchange_server",
    "mailbox_url",
    "message_url",
    "open_mailbox",
]

logger = logging.getLogger(__name__)


IMAP_SCOPE = f"{OUTLOOK_RESOURCE}/IMAP.AccessAsUser.All"
POP_SCOPE = f"{OUTLOOK_RESOURCE}/POP.AccessAsUser.All"
HEADER_LIMIT = 256 * 1024  # the most of a message's header read to tell its sender why it was refused
_OTHER_LITERAL_LIMIT = 1024 * 1024  # any other IMAP literal (folder names and the like)
_CHUNK = 64 * 1024
_SocketFile = Any  # what socket.makefile('rb') returns: an io.BufferedReader (imaplib and poplib keep it untyped)
_MAX_MAILBOX_URL = 700  # with a message's UIDVALIDITY+UID or escaped UIDL (70 characters) it fits 1000


class MailProtocol(StrEnum):
    IMAP = "imap"
    POP3 = "pop3"


class MailboxAuthFailed(MicrosoftError):
    """The server refused the sign-in; retrying will not help until someone fixes the account or permissions."""

    permanent = needs_person = True


class MailboxConfigurationError(MicrosoftError):
    """The server answered, but the settings do not fit it (a missing folder, an untrusted certificate)."""

    permanent = needs_person = True


class MessageUnavailable(MailboxConfigurationError):
    """The server would not hand out this one message (gone, or an error on its side); the others can still be
    read, and this one is tried again at the next poll."""

    permanent = needs_person = False


@dataclass(frozen=True)
class MailServer:
    protocol: MailProtocol
    host: str
    port: int
    security: Security = Security.SSL
    ca_bundle: str | None = None
    timeout: float = 30.0  # each read
    connect_timeout: float = 10.0
    time_limit: float = 600.0  # one session, from connecting to logging out (a poll reads many messages)
    # A server a tenant typed is checked against the operator's rules; None only for the operator's own endpoints.
    rules: TenantServerRules | None = field(default_factory=tenant_server_rules)

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
    """One message as the server lists it. `key` is stable across sessions within one folder:
    "<UIDVALIDITY>:<UID>" or the UIDL. `url` adds the server, account and folder (RFC 5092 style for IMAP,
    RFC 2384 style for POP3): unique across mailboxes, it is what a processed message is remembered by."""

    key: str
    size: int  # as the server announces it: a claim, never trusted to bound a download
    uid: str = ""  # IMAP
    number: int = 0  # POP3 message number, valid in this session only
    mailbox: str = ""  # mailbox_url() of the folder it was listed in

    @property
    def url(self) -> str:
        return message_url(self.mailbox, self.key, imap=bool(self.uid))


@dataclass(frozen=True)
class FetchedMessage:
    """What was read of a message: all of it (`complete`), or only its first `max_bytes` when it is larger. One
    buffer, never copied on the way."""

    data: bytearray
    complete: bool


@dataclass(frozen=True)
class FetchedBatch:
    """What one read of several messages handed out: those read, by `MessageRef.key`, and those left for a later
    read because the batch's memory budget was spent. A message in neither, the server would not hand out."""

    messages: dict[str, FetchedMessage]
    deferred: list[MessageRef]


class Mailbox(Protocol):
    server: MailServer

    def messages(self, *, unseen_only: bool = False) -> list[MessageRef]: ...
    def fetch(self, ref: MessageRef, *, max_bytes: int) -> FetchedMessage: ...
    def fetch_many(self, refs: Sequence[MessageRef], *, max_bytes: int, budget: int) -> FetchedBatch: ...
    def fetch_headers(self, ref: MessageRef) -> bytes: ...
    def delete(self, ref: MessageRef) -> None: ...
    def delete_many(self, refs: Sequence[MessageRef]) -> None: ...
    def delete_many_sent(self, refs: Sequence[MessageRef]) -> Callable[[], None]: ...
    def move(self, ref: MessageRef, folder: str) -> None: ...
    def move_many(self, refs: Sequence[MessageRef], folder: str) -> None: ...
    def mark_read(self, ref: MessageRef) -> None: ...
    def mark_read_many(self, refs: Sequence[MessageRef]) -> None: ...
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
    return MailServer(protocol, host, port, Security.SSL, config.ca_bundle, max(config.http_timeout, 30.0), rules=None)


def mailbox_url(protocol: MailProtocol, host: str, port: int, username: str, folder: str = "INBOX") -> str:
    """The server, account and (IMAP) folder as a URL: "imap://user@host:993/INBOX", "pop://user@host:995".

    IMAP's INBOX is case-insensitive; other folder names and user names are kept as typed (two spellings are two
    mailboxes: mail is read again rather than taken for processed). An absurdly long URL is replaced by its
    digest so that it fits where it is stored."""
    user = quote(username, safe="")
    if protocol == MailProtocol.IMAP:
        name = "INBOX" if folder.upper() == "INBOX" else folder
        url = f"imap://{user}@{host.lower()}:{port}/{quote(name, safe='/')}"
    else:
        url = f"pop://{user}@{host.lower()}:{port}"
    if len(url) > _MAX_MAILBOX_URL:
        url = f"{url.partition('://')[0]}://sha256,{hashlib.sha256(url.encode()).hexdigest()}"
    return url


def message_url(mailbox: str, key: str, *, imap: bool) -> str:
    """A message of `mailbox` by its IMAP "<UIDVALIDITY>:<UID>" or its POP3 UIDL."""
    if imap:
        uidvalidity, _, uid = key.partition(":")
        return f"{mailbox};UIDVALIDITY={uidvalidity}/;UID={uid}"
    return f"{mailbox}/;UIDL={quote(key, safe='')}"


@contextmanager
def open_mailbox(server: MailServer, login: MailLogin, *, folder: str = "INBOX") -> Iterator[Mailbox]:
    """Connect, sign in and (IMAP) select `folder`; close (POP3: commit deletions) when the block ends.

    The whole block runs within `server.time_limit`: past it the connection is cut, and whatever fails then is
    reported as the time limit (TransientError)."""
    mailbox: Mailbox
    time_limit = TimeLimit(server.time_limit)
    try:
        with _classified(server, time_limit):
            if server.protocol == MailProtocol.IMAP:
                mailbox = _ImapMailbox(server, login, folder, time_limit)
            else:
                mailbox = _Pop3Mailbox(server, login, time_limit)
        try:
            yield mailbox
        except BaseException as exc:
            with _classified(server, time_limit):
                _quietly(mailbox, commit=False)
            if time_limit.expired and isinstance(exc, TransientError | OSError | EOFError):
                raise time_limit.exceeded(server.label) from exc
            raise
        with _classified(server, time_limit):
            mailbox.close()
    finally:
        time_limit.close()


# --- errors ---------------------------------------------------------------------------------------------------


@contextmanager
def _classified(server: MailServer, time_limit: TimeLimit | None = None) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        if time_limit is not None and time_limit.expired:  # whatever failed, it failed because time ran out
            raise time_limit.exceeded(server.label) from exc
        classified = _classification(server, exc)
        if classified is exc:
            raise
        raise classified from exc


def _classification(server: MailServer, exc: Exception) -> Exception:
    if isinstance(exc, MicrosoftError):
        return exc
    if isinstance(exc, ssl.SSLCertVerificationError):
        return MailboxConfigurationError(
            f"The certificate of {server.host} is not trusted ({exc.verify_message}). Check the host name, or "
            "ask the mail server's administrator for a certificate from a public authority."
        )
    if isinstance(exc, OSError | EOFError | imaplib.IMAP4.abort):
        return connection_lost(server.label, exc, closed=(imaplib.IMAP4.abort,))
    if isinstance(exc, imaplib.IMAP4.error | poplib.error_proto):
        return MailboxConfigurationError(f"{server.label} refused a command: {_text(exc)}")
    return exc


def _greeting_refused(server: MailServer, exc: Exception, *, refusal: bytes) -> MailboxConfigurationError:
    """A greeting the client library would not take: the server's refusal (`refusal`: IMAP's `* BYE`, POP3's
    `-ERR`) in its own words, or anything else, which is not this protocol at all."""
    greeting = exc.args[0] if exc.args else b""
    if isinstance(greeting, bytes) and greeting.startswith(refusal):
        return MailboxConfigurationError(
            f"{server.label} refused the connection: {reply_line(greeting[len(refusal) :])}"
        )
    return _not_the_protocol(server)


def _not_the_protocol(server: MailServer) -> MailboxConfigurationError:
    name = server.protocol.value.upper()
    return MailboxConfigurationError(
        f"The server at {server.host}:{server.port} does not answer like {'an' if name == 'IMAP' else 'a'} {name} "
        "server. Check the host, the port and the security.",
        error="wrong_protocol",
    )


def _refuse_unsafe_login(server: MailServer, sock: Any, login: MailLogin) -> None:
    """A login is sent only over TLS (unless the operator allows otherwise) and only as the one line it is."""
    if not isinstance(sock, ssl.SSLSocket) and not (server.rules is not None and server.rules.allow_plaintext_login):
        raise MailboxConfigurationError(
            f"{server.label} would receive the password without TLS: choose SSL/TLS or STARTTLS. Roger never sends "
            "a password over an unencrypted connection.",
            error="plaintext_login",
        )
    if any(ch in value for value in (login.username, login.password or "") for ch in "\r\n\0"):
        raise MailboxAuthFailed(
            "The user name or password contains a line break, which mail protocols cannot carry. Enter them again.",
            error="login_line_break",
        )


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
    """A server's answer carried by an exception, as one short printable line."""
    return reply_line(exc.args[0] if exc.args and isinstance(exc.args[0], bytes | str) else str(exc))


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
_UID_ITEM = re.compile(rb"\bUID (\d+)")


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _opener(server: MailServer, time_limit: TimeLimit) -> Callable[[], socket.socket]:
    return lambda: open_endpoint(server, time_limit)


class _IMAP4(imaplib.IMAP4):
    """imaplib's client on a socket from microsoft.mail_connection (checked address, time limit).

    imaplib reads a literal (``{n}`` then n bytes) in one piece of the size the server announced. Here a literal is
    read in pieces: its first `literal_limit` bytes are kept, the rest is read and dropped, so the connection stays
    in step and memory stays bounded whatever the server claims or sends."""

    literal_limit = _OTHER_LITERAL_LIMIT
    literal_budget: _LiteralBudget | None = None

    def __init__(self, server: MailServer, open_socket: Callable[[], socket.socket]) -> None:
        self._open_socket = open_socket
        super().__init__(server.host, server.port, timeout=server.timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return self._open_socket()

    def read(self, size: int) -> bytearray:  # type: ignore[override]
        return _literal(self, size)


class _IMAP4_SSL(imaplib.IMAP4_SSL):
    literal_limit = _OTHER_LITERAL_LIMIT
    literal_budget: _LiteralBudget | None = None

    def __init__(self, server: MailServer, open_socket: Callable[[], socket.socket]) -> None:
        self._open_socket = open_socket
        super().__init__(server.host, server.port, ssl_context=tls_context(server), timeout=server.timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        # TLS verifies the certificate against the host name, whatever address the connection went to.
        return self.ssl_context.wrap_socket(self._open_socket(), server_hostname=self.host)

    def read(self, size: int) -> bytearray:  # type: ignore[override]
        return _literal(self, size)


class _LiteralBudget:
    """What the literals of one batched FETCH may keep in all: whole literals only, the first one always."""

    def __init__(self, remaining: int) -> None:
        self.remaining = remaining
        self.kept = 0


class _Passed(bytearray):
    """A literal read past without keeping it: the batch's budget was spent, it is fetched again later."""


def _literal(connection: _IMAP4 | _IMAP4_SSL, size: int) -> bytearray:
    budget = connection.literal_budget
    if budget is not None and budget.kept and min(size, connection.literal_limit) > budget.remaining:
        _skip_bytes(connection.file, size)
        return _Passed()
    data = _bounded_read(connection.file, size, connection.literal_limit)
    if budget is not None:
        budget.kept += 1
        budget.remaining -= len(data)
    return data


def _bounded_read(stream: _SocketFile, size: int, limit: int) -> bytearray:
    kept = _read_bytes(stream, min(size, limit))
    _skip_bytes(stream, size - len(kept))
    return kept


def _read_bytes(stream: _SocketFile, size: int) -> bytearray:
    """Exactly `size` bytes, read into one buffer of that size (never more, never a second copy)."""
    buffer, filled = bytearray(size), 0
    with memoryview(buffer) as view:
        while filled < size:
            count = stream.readinto(view[filled : filled + _CHUNK])
            if not count:
                raise EOFError("the server closed the connection in the middle of a message")
            filled += count
    return buffer


def _skip_bytes(stream: _SocketFile, size: int) -> None:
    while size > 0:
        piece = stream.read(min(size, _CHUNK))
        if not piece:
            raise EOFError("the server closed the connection in the middle of a message")
        size -= len(piece)


class _ImapMailbox:
    def __init__(self, server: MailServer, login: MailLogin, folder: str, time_limit: TimeLimit) -> None:
        self.server = server
        self.time_limit = time_limit
        self.connection = self._connect()
        self._sign_in(login)
        self.uidvalidity = ""
        self.folder = folder
        self.url = mailbox_url(MailProtocol.IMAP, server.host, server.port, login.username, folder)
        self.selected = False
        self.uidplus: bool | None = None

    def _connect(self) -> _IMAP4 | _IMAP4_SSL:
        server, open_socket = self.server, _opener(self.server, self.time_limit)
        try:
            if server.security == Security.SSL:
                return _IMAP4_SSL(server, open_socket)
            connection = _IMAP4(server, open_socket)
        except imaplib.IMAP4.abort as exc:
            if _text(exc).startswith("unexpected response"):
                raise _not_the_protocol(server) from exc
            raise
        except imaplib.IMAP4.error as exc:  # a greeting other than OK or PREAUTH
            raise _greeting_refused(server, exc, refusal=b"* BYE") from exc
        if server.security == Security.STARTTLS:
            connection.starttls(ssl_context=tls_context(server))
        return connection

    def _sign_in(self, login: MailLogin) -> None:
        _refuse_unsafe_login(self.server, self.connection.sock, login)
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
                refs.append(MessageRef(key=f"{self.uidvalidity}:{uid}", size=size, uid=uid, mailbox=self.url))
        return sorted(refs, key=lambda ref: int(ref.uid))

    def fetch(self, ref: MessageRef, *, max_bytes: int) -> FetchedMessage:
        # A partial FETCH of one byte more than allowed: a server that honours it never sends more, one that
        # does not is cut off by the bounded literal reader. PEEK leaves \Seen alone.
        data = self._fetch(ref, f"BODY.PEEK[]<0.{max_bytes + 1}>", limit=max_bytes + 1)
        complete = len(data) <= max_bytes
        del data[max_bytes:]  # in place: a copy would hold the message twice
        return FetchedMessage(data, complete)

    def fetch_many(self, refs: Sequence[MessageRef], *, max_bytes: int, budget: int) -> FetchedBatch:
        """`refs` in one UID FETCH, each read as `fetch` reads it. The batch keeps at most `budget` bytes (or one
        message, whatever its size): a message beyond it is read past and deferred, so a server that announces
        small sizes and sends large messages cannot make a batch hold more than that."""
        if not refs:
            return FetchedBatch({}, [])
        self._select()
        self.connection.literal_limit = max_bytes + 1
        self.connection.literal_budget = _LiteralBudget(budget)
        try:
            with _classified(self.server):
                # Whatever the status, the messages the server did hand out are good (a NO can be partial).
                _status, data = self.connection.uid("FETCH", _uid_set(refs), f"(UID BODY.PEEK[]<0.{max_bytes + 1}>)")
        finally:
            self.connection.literal_limit = _OTHER_LITERAL_LIMIT
            self.connection.literal_budget = None
        by_uid = {ref.uid: ref for ref in refs}
        messages: dict[str, FetchedMessage] = {}
        deferred: list[MessageRef] = []
        for index, item in enumerate(data):
            if not isinstance(item, tuple):
                continue
            # The UID comes before the literal (as Dovecot and Exchange send it) or after it, in the next piece.
            after = data[index + 1] if index + 1 < len(data) else b""
            match = _UID_ITEM.search(item[0]) or _UID_ITEM.search(after if isinstance(after, bytes) else b"")
            ref = by_uid.get(match.group(1).decode()) if match else None
            if ref is None or ref.key in messages or ref in deferred:
                continue
            if isinstance(item[1], _Passed):
                deferred.append(ref)
                continue
            body = item[1] if isinstance(item[1], bytearray) else bytearray(item[1])
            complete = len(body) <= max_bytes
            del body[max_bytes:]  # in place, as in fetch
            messages[ref.key] = FetchedMessage(body, complete)
        return FetchedBatch(messages, deferred)

    def fetch_headers(self, ref: MessageRef) -> bytes:
        return bytes(self._fetch(ref, "BODY.PEEK[HEADER]", limit=HEADER_LIMIT))

    def _fetch(self, ref: MessageRef, item_name: str, *, limit: int) -> bytearray:
        self.connection.literal_limit = limit
        try:
            with _classified(self.server):
                status, data = self.connection.uid("FETCH", ref.uid, f"({item_name})")
        finally:
            self.connection.literal_limit = _OTHER_LITERAL_LIMIT
        for item in data if status == "OK" else []:
            if isinstance(item, tuple):
                return bytearray(item[1]) if not isinstance(item[1], bytearray) else item[1]
        raise MessageUnavailable(
            f"The message {ref.key} could not be read ({status}); it stays in the folder and is tried again.",
            description=_text(Exception(*data)) if data else "",
        )

    def delete(self, ref: MessageRef) -> None:
        self.delete_many([ref])

    def delete_many(self, refs: Sequence[MessageRef]) -> None:
        """Flag the messages deleted and, when the server has UIDPLUS (Exchange and Dovecot have), expunge exactly
        these: the server's cost of deleting (on Dovecot's Maildir a file unlinked per message, 0.05 to 2.5 ms
        each) is then paid batch by batch, while the caller works on the next batch, rather than all at once by
        the CLOSE that ends the session. Without UIDPLUS the CLOSE expunges them (it expunges every flagged
        message anyway). A session that ends otherwise leaves them flagged: they are listed no more, and the next
        CLOSE removes them."""
        self.delete_many_sent(refs)()

    def delete_many_sent(self, refs: Sequence[MessageRef]) -> Callable[[], None]:
        """`delete_many` without waiting for the server: the commands are sent, and the function returned reads
        their answers (call it before the session is used again). The caller works meanwhile while the server
        deletes (on Dovecot's Maildir an unlink a message, the longest part of a batch's server work)."""
        uids = _uid_set(refs)
        # imaplib sends a command and waits for its answer in one public call; its two halves (`_command` returns
        # the tag, `_command_complete` reads up to that tag's answer) are private, and what `uid()` itself calls
        # (through `_simple_command`). Python is pinned (3.11); tests/mail_jobs run this path against Dovecot.
        send: Callable[..., str] = self.connection._command  # type: ignore[attr-defined]
        complete: Callable[[str, str], tuple[str, list[Any]]] = self.connection._command_complete  # type: ignore[attr-defined]
        with _classified(self.server):
            expunge = self._has_uidplus()
            tags = [send("UID", "STORE", uids, "+FLAGS.SILENT", r"(\Deleted)")]
            if expunge:
                tags.append(send("UID", "EXPUNGE", uids))

        def answers() -> None:
            with _classified(self.server):
                for tag in tags:
                    complete("UID", tag)

        return answers

    def _has_uidplus(self) -> bool:
        # Servers announce their extensions once signed in (Dovecot's greeting lists fewer): asked once a session.
        if self.uidplus is None:
            _status, data = self.connection.capability()
            self.uidplus = any(b"UIDPLUS" in item.upper().split() for item in data if isinstance(item, bytes))
        return self.uidplus

    def move(self, ref: MessageRef, folder: str) -> None:
        self.move_many([ref], folder)

    def move_many(self, refs: Sequence[MessageRef], folder: str) -> None:
        uids = _uid_set(refs)
        with _classified(self.server):
            if "MOVE" in self.connection.capabilities:
                status, data = self.connection.uid("MOVE", uids, _quote(folder))
            else:
                status, data = self.connection.uid("COPY", uids, _quote(folder))
                if status == "OK":
                    self.delete_many(refs)
        if status != "OK":
            raise MailboxConfigurationError(
                f"Could not move the message to the folder {folder!r}: {_text(Exception(*data))}. "
                "Create the folder, or choose another one.",
            )

    def mark_read(self, ref: MessageRef) -> None:
        self.mark_read_many([ref])

    def mark_read_many(self, refs: Sequence[MessageRef]) -> None:
        with _classified(self.server):
            self.connection.uid("STORE", _uid_set(refs), "+FLAGS.SILENT", r"(\Seen)")

    def close(self) -> None:
        if self.selected:
            self.connection.close()
        self.connection.logout()

    def abandon(self) -> None:
        self.connection.shutdown()


def _uid_set(refs: Sequence[MessageRef]) -> str:
    """The exact UIDs, never a range: a range would take in messages between them that are not the batch's."""
    return ",".join(ref.uid for ref in refs)


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


def _pop_send(connection: poplib.POP3, line: str) -> None:
    """Send one line without waiting for its answer (pipelining)."""
    putcmd: Callable[[str], None] = connection._putcmd  # type: ignore[attr-defined]
    putcmd(line)


def _pop_answer(connection: poplib.POP3) -> bytes:
    """Read the one-line answer to a command sent before; raises poplib.error_proto on "-ERR"."""
    getresp: Callable[[], bytes] = connection._getresp  # type: ignore[attr-defined]
    return getresp()


class _POP3(poplib.POP3):
    """poplib's client on a socket from microsoft.mail_connection (checked address, time limit)."""

    def __init__(self, server: MailServer, open_socket: Callable[[], socket.socket]) -> None:
        self._open_socket = open_socket
        super().__init__(server.host, server.port, timeout=server.timeout)

    def _create_socket(self, timeout: float) -> socket.socket:
        return self._open_socket()


class _POP3_SSL(poplib.POP3_SSL):
    def __init__(self, server: MailServer, open_socket: Callable[[], socket.socket]) -> None:
        self._open_socket = open_socket
        super().__init__(server.host, server.port, timeout=server.timeout, context=tls_context(server))

    def _create_socket(self, timeout: float) -> socket.socket:
        # TLS verifies the certificate against the host name, whatever address the connection went to.
        return self.context.wrap_socket(self._open_socket(), server_hostname=self.host)  # type: ignore[attr-defined]


class _Pop3Mailbox:
    def __init__(self, server: MailServer, login: MailLogin, time_limit: TimeLimit) -> None:
        self.server = server
        self.time_limit = time_limit
        self.connection = self._connect()
        self._sign_in(login)
        self.url = mailbox_url(MailProtocol.POP3, server.host, server.port, login.username)
        self._can_pipeline: bool | None = None

    def _connect(self) -> poplib.POP3:
        server, open_socket = self.server, _opener(self.server, self.time_limit)
        try:
            if server.security == Security.SSL:
                return _POP3_SSL(server, open_socket)
            connection = _POP3(server, open_socket)
        except poplib.error_proto as exc:  # a greeting other than +OK
            greeting = exc.args[0] if exc.args else b""
            if greeting == "-ERR EOF":  # poplib's words for a connection closed before the greeting
                raise EOFError("closed before the greeting") from exc
            raise _greeting_refused(server, exc, refusal=b"-ERR") from exc
        if server.security == Security.STARTTLS:
            connection.stls(context=tls_context(server))
        return connection

    def _sign_in(self, login: MailLogin) -> None:
        _refuse_unsafe_login(self.server, self.connection.sock, login)
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
            refs.append(
                MessageRef(
                    key=uidl.decode(errors="replace"),
                    size=size_of.get(int(number), 0),
                    number=int(number),
                    mailbox=self.url,
                )
            )
        return refs

    def fetch(self, ref: MessageRef, *, max_bytes: int) -> FetchedMessage:
        data, complete = self._multiline(f"RETR {ref.number}", max_bytes)
        return FetchedMessage(data, complete)

    def fetch_many(self, refs: Sequence[MessageRef], *, max_bytes: int, budget: int) -> FetchedBatch:
        """`refs` by RETR, each read as `fetch` reads it; the RETRs are sent all at once when the server pipelines.
        Once the batch has kept `budget` bytes (and at least one message), the rest is read past and deferred."""
        messages: dict[str, FetchedMessage] = {}
        deferred: list[MessageRef] = []
        kept = 0
        with _classified(self.server):
            pipelined = self._pipelining()
            if pipelined:
                for ref in refs:
                    _pop_send(self.connection, f"RETR {ref.number}")
            for ref in refs:
                spent = bool(messages) and kept >= budget
                if spent and not pipelined:
                    deferred.append(ref)
                    continue
                try:
                    _pop_answer(self.connection) if pipelined else _pop_command(self.connection, f"RETR {ref.number}")
                except poplib.error_proto:
                    continue  # the server would not hand it out: tried again at the next poll
                data, complete = _read_dot_terminated(self.connection.file, 0 if spent else max_bytes)
                if spent:
                    deferred.append(ref)
                    continue
                kept += len(data)
                messages[ref.key] = FetchedMessage(data, complete)
        return FetchedBatch(messages, deferred)

    def _pipelining(self) -> bool:
        """Whether the server takes several commands before answering the first (RFC 2449 PIPELINING)."""
        if self._can_pipeline is None:
            try:
                self._can_pipeline = "PIPELINING" in self.connection.capa()
            except poplib.error_proto:  # no CAPA, or an answer poplib refuses
                self._can_pipeline = False
        return self._can_pipeline

    def fetch_headers(self, ref: MessageRef) -> bytes:
        data, _complete = self._multiline(f"TOP {ref.number} 0", HEADER_LIMIT)
        return bytes(data)

    def _multiline(self, command: str, max_bytes: int) -> tuple[bytearray, bool]:
        """Send a command whose answer is a dot-terminated message, keep at most `max_bytes` of it and read the
        rest to its end without keeping it (poplib would hold all of it, and refuses lines over 2 KB)."""
        with _classified(self.server):
            try:
                _pop_command(self.connection, command)
            except poplib.error_proto as exc:
                raise MessageUnavailable(
                    f"The server would not hand out the message: {_text(exc)}. It is tried again at the next poll."
                ) from exc
            return _read_dot_terminated(self.connection.file, max_bytes)

    def delete(self, ref: MessageRef) -> None:
        self.delete_many([ref])

    def delete_many(self, refs: Sequence[MessageRef]) -> None:
        self.delete_many_sent(refs)()

    def delete_many_sent(self, refs: Sequence[MessageRef]) -> Callable[[], None]:
        """`delete_many` without waiting for the answers when the server pipelines (the function returned reads
        them; call it before the session is used again); otherwise at once, one DELE after the other."""
        if len(refs) < 2 or not self._pipelining():
            with _classified(self.server):
                for ref in refs:
                    self.connection.dele(ref.number)
            return lambda: None
        with _classified(self.server):
            for ref in refs:
                _pop_send(self.connection, f"DELE {ref.number}")

        def answers() -> None:
            with _classified(self.server):
                for _ref in refs:
                    _pop_answer(self.connection)

        return answers

    def move(self, ref: MessageRef, folder: str) -> None:
        self.move_many([ref], folder)

    def move_many(self, refs: Sequence[MessageRef], folder: str) -> None:
        raise MailboxConfigurationError("POP3 cannot move messages; choose Delete after processing.")

    def mark_read(self, ref: MessageRef) -> None:
        self.mark_read_many([ref])

    def mark_read_many(self, refs: Sequence[MessageRef]) -> None:
        raise MailboxConfigurationError("POP3 cannot mark messages read; choose Delete after processing.")

    def close(self) -> None:
        self.connection.quit()  # QUIT commits the deletions

    def abandon(self) -> None:
        # Closing without QUIT: the server rolls back every DELE of this session, so nothing is lost.
        self.connection.close()


def _read_dot_terminated(stream: _SocketFile, max_bytes: int) -> tuple[bytearray, bool]:
    """A POP3 multi-line answer (RFC 1939 §3): lines up to a lone ".", a leading "." doubled. Returns its first
    `max_bytes` (un-stuffed) and whether that is all of it. Read a buffer at a time, not a line at a time (a 40 KB
    message is 550 lines of base64): what the buffer holds is searched for the end and un-stuffed with bytes
    operations, and nothing past the end is taken from the stream (pipelined answers follow). A line longer than
    _CHUNK is taken in pieces, as readline(_CHUNK) would: a piece after the first is not a line's start."""
    kept = bytearray()
    complete, line_start = True, True  # line_start: whether `carry` (or what comes next) begins a line
    carry = b""  # the last line seen so far, not ended yet
    while True:
        peeked = stream.peek(_CHUNK)  # what is buffered, or one read when nothing is
        if not peeked:
            raise EOFError("the server closed the connection in the middle of a message")
        data = carry + peeked
        end = _dot_line(data, line_start)
        if end >= 0:
            stream.read(end - len(carry) + (3 if data.startswith(b".\r\n", end) else 2))
            piece, carry = data[:end], b""
        else:
            stream.read(len(peeked))
            cut = data.rfind(b"\n") + 1
            if cut == 0 and len(data) < _CHUNK:
                carry = data
                continue
            cut = cut or len(data)  # a piece of a long line
            piece, carry = data[:cut], data[cut:]
        stuffed = line_start and piece.startswith(b".")
        line_start = piece.endswith(b"\n")
        piece = piece[1:] if stuffed else piece
        piece = piece.replace(b"\n.", b"\n")
        if complete and len(kept) + len(piece) <= max_bytes:
            kept += piece
        elif complete:
            kept += piece[: max_bytes - len(kept)]
            complete = False
        if end >= 0:
            return kept, complete


def _dot_line(data: bytes, line_start: bool) -> int:
    """Where the lone "." line that ends a multi-line answer starts in `data` (whose first byte begins a line when
    `line_start`), or -1. Only a line ended in `data` counts."""
    if line_start and (data.startswith(b".\r\n") or data.startswith(b".\n")):
        return 0
    found = [at + 1 for at in (data.find(b"\n.\r\n"), data.find(b"\n.\n")) if at >= 0]
    return min(found, default=-1)
