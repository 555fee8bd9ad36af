"""Exchange Online's SMTP submission endpoint (``smtp.office365.com:587``) for tests and the demo.

What it does as Exchange does (protocols.md §4): STARTTLS on the emulator's certificate, AUTH advertised only
after STARTTLS, AUTH XOAUTH2 inline or after a ``334`` continuation, checking the access token through the
emulator's own state (Outlook audience, ``SMTP.Send`` scope, ``user=`` the token's mailbox or a shared mailbox the
token's user may send as), 535 5.7.3 / 535 5.7.139 answers, send-as checks on MAIL FROM and the From header, and
the 30 messages a minute per mailbox limit (answered 451 4.7.500 here, so a client that ignores it is caught).

For the "custom SMTP server" path, seeded mailboxes with an ``smtp_password`` sign in with AUTH LOGIN or PLAIN.
A second listener speaks implicit TLS (SMTPS, the "SSL" security of custom servers). A third is the inbound MX
(``<tenant>.mail.protection.outlook.com:25``): anyone may mail the emulator's domains there, without signing in.

Mail for one of the emulator's mailboxes is delivered into it (Dovecot) stamped as Exchange stamps it
(``m365_emulator.delivery``): internal when a signed-in user of the same directory submitted it, anonymous with
SPF/DKIM/DMARC/compauth verdicts otherwise.

Everything received is kept in memory for the control API (``/_control/smtp/...``, docs/emulator.md).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import email
import email.policy
import itertools
import logging
import secrets
import socket
import ssl
import threading
from collections import deque
from dataclasses import dataclass, field
from email.utils import getaddresses
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from m365_emulator import delivery, dovecot
from m365_emulator.clock import Clock
from m365_emulator.crypto import TlsFiles
from m365_emulator.scopes import OUTLOOK_AUDIENCES
from m365_emulator.seed import Mailbox
from m365_emulator.state import State

log = logging.getLogger("m365_emulator.smtp")

SERVER_NAME = "EM2PR01CA0001.emulator.prod.outlook.com"
SEND_SCOPE = "SMTP.Send"
DEFAULT_RATE_LIMIT = 30  # messages per mailbox...
DEFAULT_RATE_WINDOW = 60.0  # ...per this many seconds (Exchange Online's SMTP AUTH limit)
MAX_KEPT_MESSAGES = 2000

AUTH_OK = "235 2.7.0 Authentication successful"
AUTH_FAILED = f"535 5.7.3 Authentication unsuccessful [{SERVER_NAME}]"
AUTH_DISABLED = (
    "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. "
    f"Visit https://aka.ms/smtp_auth_disabled for more information. [{SERVER_NAME}]"
)
SEND_AS_DENIED_MAIL_FROM = "550 5.7.60 SMTP; Client does not have permissions to send as this sender"
NOT_AUTHENTICATED = "530 5.7.57 Client not authenticated to send mail"
THROTTLED = "451 4.7.500 Server busy. Please try again later. [SubmissionRateLimitExceeded]"
RELAY_DENIED = "550 5.7.64 TenantAttribution; Relay Access Denied"


@dataclass(frozen=True)
class Identity:
    """Who a session authenticated as: the mailbox it sends from and the addresses it may use as sender."""

    mailbox: str
    mechanism: str
    may_send_as: frozenset[str]
    token_user: str | None = None  # the UPN behind an XOAUTH2 token
    directory: str = ""  # the tenant id the signed-in mailbox belongs to; "" for anonymous inbound mail


@dataclass
class ReceivedMessage:
    id: str
    received_at: float
    identity: Identity
    mail_from: str
    rcpt_tos: list[str]
    data: str

    def as_json(self) -> dict[str, Any]:
        parsed = email.message_from_string(self.data, policy=email.policy.default)
        body = parsed.get_body(preferencelist=("plain", "html"))
        return {
            "id": self.id,
            "received_at": self.received_at,
            "mailbox": self.identity.mailbox,
            "mechanism": self.identity.mechanism,
            "token_user": self.identity.token_user,
            "mail_from": self.mail_from,
            "rcpt_tos": self.rcpt_tos,
            "subject": str(parsed.get("Subject", "")),
            "from": str(parsed.get("From", "")),
            "to": str(parsed.get("To", "")),
            "text": body.get_content() if body is not None else "",
            "data": self.data,
        }


@dataclass
class SmtpEvent:
    at: float
    kind: str  # auth_ok | auth_failed | auth_disabled | send_as_denied | throttled | accepted
    mailbox: str
    reply: str

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at, "kind": self.kind, "mailbox": self.mailbox, "reply": self.reply}


@dataclass
class MailStore:
    """What the SMTP server received, its event log and the per-mailbox submission windows."""

    clock: Clock
    limit: int = DEFAULT_RATE_LIMIT
    window: float = DEFAULT_RATE_WINDOW
    messages: deque[ReceivedMessage] = field(default_factory=lambda: deque(maxlen=MAX_KEPT_MESSAGES))
    events: deque[SmtpEvent] = field(default_factory=lambda: deque(maxlen=MAX_KEPT_MESSAGES))
    _sent: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self.events.clear()
            self._sent.clear()
            self.limit, self.window = DEFAULT_RATE_LIMIT, DEFAULT_RATE_WINDOW

    def configure(self, *, limit: int, window: float) -> None:
        with self._lock:
            self.limit, self.window = limit, window
            self._sent.clear()

    def record(self, kind: str, mailbox: str, reply: str) -> None:
        with self._lock:
            self.events.append(SmtpEvent(self.clock.now(), kind, mailbox, reply))

    def admit(self, mailbox: str) -> bool:
        """Count one submission for ``mailbox`` unless it already sent ``limit`` messages in the window."""
        now = self.clock.now()
        with self._lock:
            sent = self._sent.setdefault(mailbox, deque())
            while sent and sent[0] <= now - self.window:
                sent.popleft()
            if len(sent) >= self.limit:
                return False
            sent.append(now)
            return True

    def keep(self, *, identity: Identity, envelope: Envelope, data: str) -> ReceivedMessage:
        with self._lock:
            message = ReceivedMessage(
                id=f"{next(self._ids):06d}.{secrets.token_hex(6)}",
                received_at=self.clock.now(),
                identity=identity,
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                data=data,
            )
            self.messages.append(message)
            return message


def parse_xoauth2(blob: bytes) -> tuple[str, str] | None:
    """``user=<mailbox>^Aauth=Bearer <token>^A^A`` → (mailbox, token), or None when malformed."""
    try:
        text = blob.decode()
    except UnicodeDecodeError:
        return None
    fields = dict(part.split("=", 1) for part in text.split("\x01") if "=" in part)
    user, auth = fields.get("user", "").strip(), fields.get("auth", "")
    if not user or not auth.startswith("Bearer "):
        return None
    return user.lower(), auth.removeprefix("Bearer ").strip()


class ExchangeSmtpHandler:
    """aiosmtpd handler: the ``auth_XOAUTH2`` mechanism, the password authenticator and the MAIL/DATA checks."""

    def __init__(self, state: State, store: MailStore) -> None:
        self.state = state
        self.store = store

    # --- authentication -------------------------------------------------------------------------------

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        if len(args) > 1:
            try:
                blob: Any = base64.b64decode(args[1], validate=True)
            except binascii.Error:
                return self._fail("?", AUTH_FAILED, "auth_failed")
        else:
            blob = await server.challenge_auth("")
            if not isinstance(blob, bytes):
                return AuthResult(success=False, handled=True)  # aiosmtpd already answered (501)
        parsed = parse_xoauth2(blob)
        if parsed is None:
            return self._fail("?", AUTH_FAILED, "auth_failed")
        mailbox, token = parsed
        return self._check_token(mailbox, token)

    def _check_token(self, mailbox: str, token: str) -> AuthResult:
        claims = self.state.access_token_claims(token)
        if claims is None:  # not ours, tampered or expired on the emulator's clock
            return self._fail(mailbox, AUTH_FAILED, "auth_failed")
        directory = self.state.directories.get(str(claims.get("tid", "")))
        if directory is not None and not directory.smtp_auth_enabled:
            return self._fail(mailbox, AUTH_DISABLED, "auth_disabled")
        if claims.get("aud") not in OUTLOOK_AUDIENCES or SEND_SCOPE not in str(claims.get("scp", "")).split():
            return self._fail(mailbox, AUTH_FAILED, "auth_failed")
        user = self.state.users.get(str(claims.get("oid", "")))
        if user is None or not user.enabled:
            return self._fail(mailbox, AUTH_FAILED, "auth_failed")
        own_addresses = {user.upn.lower(), user.mail.lower()}
        if mailbox in own_addresses:
            identity = Identity(mailbox, "XOAUTH2", frozenset(own_addresses), user.upn, user.directory)
        else:
            shared = self._mailbox(mailbox)
            if shared is None or user.upn not in shared.send_as or shared.directory != user.directory:
                return self._fail(mailbox, AUTH_FAILED, "auth_failed")
            identity = Identity(mailbox, "XOAUTH2", frozenset({shared.address}), user.upn, shared.directory)
        self.store.record("auth_ok", mailbox, AUTH_OK)
        return AuthResult(success=True, auth_data=identity)

    def authenticate_password(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        """AUTH LOGIN / PLAIN for seeded relay accounts (a "custom SMTP server" in the portal)."""
        if not isinstance(auth_data, LoginPassword):
            return self._fail("?", AUTH_FAILED, "auth_failed")
        login = auth_data.login.decode(errors="replace").strip().lower()
        account = self._mailbox(login)
        password = auth_data.password.decode(errors="replace")
        if (
            account is None
            or account.smtp_password is None
            or not secrets.compare_digest(account.smtp_password.encode(), password.encode())
        ):
            return self._fail(login, AUTH_FAILED, "auth_failed")
        self.store.record("auth_ok", login, AUTH_OK)
        identity = Identity(login, mechanism, frozenset({account.address}), directory=account.directory)
        return AuthResult(success=True, auth_data=identity)

    def _mailbox(self, address: str) -> Mailbox | None:
        return next((m for m in self.state.seed.mailboxes if m.address == address), None)

    def _fail(self, mailbox: str, reply: str, kind: str) -> AuthResult:
        self.store.record(kind, mailbox, reply)
        # handled=False makes aiosmtpd send `message`; the default would answer nothing (deps.md §7).
        return AuthResult(success=False, handled=False, message=reply)

    # --- submission -----------------------------------------------------------------------------------

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        identity = session.auth_data
        if not isinstance(identity, Identity):
            return NOT_AUTHENTICATED
        if address.lower() not in identity.may_send_as:
            self.store.record("send_as_denied", identity.mailbox, SEND_AS_DENIED_MAIL_FROM)
            return SEND_AS_DENIED_MAIL_FROM
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        identity = session.auth_data
        if not isinstance(identity, Identity):
            return NOT_AUTHENTICATED
        raw = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content or "").encode()
        data = raw.decode("utf-8", errors="replace")
        parsed = email.message_from_string(data, policy=email.policy.compat32)
        senders = [address.lower() for _, address in getaddresses(parsed.get_all("From", []))]
        if not senders or any(sender not in identity.may_send_as for sender in senders):
            reply = (
                f"554 5.2.252 SendAsDenied; {identity.mailbox} not allowed to send as {', '.join(senders) or '<>'}; "
                "STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied"
            )
            self.store.record("send_as_denied", identity.mailbox, reply)
            return reply
        if not self.store.admit(identity.mailbox):
            self.store.record("throttled", identity.mailbox, THROTTLED)
            return THROTTLED
        message = self.store.keep(identity=identity, envelope=envelope, data=data)
        for recipient, directory in self._local_recipients(envelope.rcpt_tos):
            stamped = self._stamp(raw, identity, recipient, directory, session)
            await asyncio.to_thread(_deliver_locally, recipient, stamped)
        reply = f"250 2.0.0 OK <{message.id}@{SERVER_NAME}> [Hostname={SERVER_NAME}]"
        self.store.record("accepted", identity.mailbox, reply)
        return reply

    def _stamp(self, raw: bytes, identity: Identity, recipient: str, directory: str, session: Session) -> bytes:
        sender_domain = delivery.header_from_domain(raw)
        if identity.directory and identity.directory == directory:
            return delivery.stamp_internal(raw, server=SERVER_NAME, sender_domain=sender_domain)
        return delivery.stamp_anonymous(
            raw,
            verdicts=delivery.SIGNED_BY_TENANT,
            client_ip=_peer_ip(session),
            helo=session.host_name or "unknown",
            mail_from=identity.mailbox,
            rcpt=recipient,
        )

    def _local_recipients(self, recipients: list[str]) -> list[tuple[str, str]]:
        """Recipients in one of the emulator's directories' domains, with their directory: Exchange delivers
        those to their mailbox."""
        return [(address.lower(), directory) for address in recipients if (directory := self.directory_of(address))]

    def directory_of(self, address: str) -> str:
        domain = address.rpartition("@")[2].lower()
        return next((d.tenant_id for d in self.state.directories.values() if domain in d.domains), "")


class ExchangeInboundHandler:
    """The MX: accepts mail for the emulator's domains from anyone, checks it as Exchange Online Protection does
    and delivers it stamped as anonymous mail with its verdicts."""

    def __init__(self, submission: ExchangeSmtpHandler) -> None:
        self.submission = submission

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if not self.submission.directory_of(address):
            return RELAY_DENIED
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content or "").encode()
        identity = Identity(envelope.mail_from or "", "anonymous", frozenset())
        message = self.submission.store.keep(identity=identity, envelope=envelope, data=raw.decode(errors="replace"))
        client_ip, helo, mail_from = _peer_ip(session), session.host_name or "unknown", envelope.mail_from or ""
        verdicts = delivery.evaluate(
            client_ip=client_ip,
            helo=helo,
            mail_from=mail_from,
            header_from=delivery.header_from_domain(raw),
            domains=self.submission.state.seed.sender_domains,
        )
        for recipient in envelope.rcpt_tos:
            stamped = delivery.stamp_anonymous(
                raw, verdicts=verdicts, client_ip=client_ip, helo=helo, mail_from=mail_from, rcpt=recipient
            )
            await asyncio.to_thread(_deliver_locally, recipient.lower(), stamped)
        reply = f"250 2.6.0 <{message.id}@{delivery.FRONT_END}> Queued mail for delivery"
        self.submission.store.record("accepted", "", reply)
        return reply


def _peer_ip(session: Session) -> str:
    peer = session.peer
    return str(peer[0]) if isinstance(peer, tuple) and peer else "127.0.0.1"


# --- listeners -----------------------------------------------------------------------------------------

AUTH_LINE_LIMIT = 12288  # RFC 4954 §4: an AUTH command line may be this long; a bearer token needs it


class ExchangeSMTP(SMTP):
    """aiosmtpd limits command lines to 512 octets and lines to 1001, too short for ``AUTH XOAUTH2 <token>``."""

    line_length_limit = AUTH_LINE_LIMIT + 2

    def __init__(self, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        # An instance dict: aiosmtpd's default is shared by every session through the class.
        self.command_size_limits = collections.defaultdict(lambda: AUTH_LINE_LIMIT)


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(64)
    sock.setblocking(False)
    return sock


def _server_tls(tls: TlsFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tls.cert_path), str(tls.key_path))
    return context


class SmtpListeners:
    """The submission port (STARTTLS), an implicit-TLS port and the inbound MX, served from one thread with its
    own event loop."""

    def __init__(
        self, state: State, tls: TlsFiles, *, host: str, port: int = 0, smtps_port: int = 0, mx_port: int = 0
    ) -> None:
        self.state = state
        self.store = MailStore(state.clock)
        self.handler = ExchangeSmtpHandler(state, self.store)
        self.inbound = ExchangeInboundHandler(self.handler)
        self.tls_context = _server_tls(tls)
        self.submission_sock, self.smtps_sock = _bind(host, port), _bind(host, smtps_port)
        self.mx_sock = _bind(host, mx_port)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="m365-emulator-smtp", daemon=True)
        state.on_reset.append(self.store.clear)

    @property
    def port(self) -> int:
        return int(self.submission_sock.getsockname()[1])

    @property
    def smtps_port(self) -> int:
        return int(self.smtps_sock.getsockname()[1])

    @property
    def mx_port(self) -> int:
        return int(self.mx_sock.getsockname()[1])

    def _protocol(self, *, implicit_tls: bool) -> SMTP:
        return ExchangeSMTP(
            self.handler,
            hostname=SERVER_NAME,
            ident="Microsoft ESMTP MAIL Service (m365 emulator)",
            tls_context=None if implicit_tls else self.tls_context,
            require_starttls=not implicit_tls,
            auth_required=True,
            # aiosmtpd only counts STARTTLS as TLS; on the implicit-TLS port the whole session is encrypted.
            auth_require_tls=not implicit_tls,
            authenticator=self.handler.authenticate_password,
            loop=self._loop,
        )

    def _mx_protocol(self) -> SMTP:
        return ExchangeSMTP(
            self.inbound,
            hostname=delivery.FRONT_END,
            ident="Microsoft ESMTP MAIL Service (m365 emulator, inbound)",
            tls_context=self.tls_context,  # offered, not required, as on port 25
            auth_required=False,
            loop=self._loop,
        )

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def serve() -> None:
            await self._loop.create_server(lambda: self._protocol(implicit_tls=False), sock=self.submission_sock)
            await self._loop.create_server(
                lambda: self._protocol(implicit_tls=True), sock=self.smtps_sock, ssl=self.tls_context
            )
            await self._loop.create_server(self._mx_protocol, sock=self.mx_sock)

        self._loop.run_until_complete(serve())
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> None:
        global _store
        _store = self.store
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise RuntimeError("the SMTP listeners did not start")
        log.info(
            "SMTP: submission (STARTTLS) on port %s, implicit TLS on port %s, inbound MX on port %s",
            self.port,
            self.smtps_port,
            self.mx_port,
        )

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._loop.stop)


# --- the control API ---------------------------------------------------------------------------------------

_store: MailStore | None = None


def current_store() -> MailStore:
    if _store is None:
        raise RuntimeError("the SMTP server is not running")
    return _store


async def messages(request: Request) -> Response:
    store = current_store()
    to, mailbox = request.query_params.get("to", "").lower(), request.query_params.get("mailbox", "").lower()
    found = [
        m.as_json()
        for m in list(store.messages)
        if (not to or to in (r.lower() for r in m.rcpt_tos)) and (not mailbox or m.identity.mailbox == mailbox)
    ]
    return JSONResponse(found)


async def messages_clear(request: Request) -> Response:
    store = current_store()
    store.messages.clear()
    store.events.clear()
    return JSONResponse({"ok": True})


async def events(request: Request) -> Response:
    kind = request.query_params.get("kind", "")
    return JSONResponse([e.as_json() for e in list(current_store().events) if not kind or e.kind == kind])


async def throttle(request: Request) -> Response:
    payload = await request.json() if await request.body() else {}
    try:
        limit = int(payload.get("limit", DEFAULT_RATE_LIMIT))
        window = float(payload.get("window_seconds", DEFAULT_RATE_WINDOW))
    except (TypeError, ValueError):
        return JSONResponse({"error": "limit must be an integer and window_seconds a number"}, status_code=400)
    if limit < 1 or window <= 0:
        return JSONResponse({"error": "limit and window_seconds must be positive"}, status_code=400)
    current_store().configure(limit=limit, window=window)
    return JSONResponse({"limit": limit, "window_seconds": window})


routes = [
    Route("/_control/smtp/messages", messages, methods=["GET"]),
    Route("/_control/smtp/messages", messages_clear, methods=["DELETE"]),
    Route("/_control/smtp/events", events, methods=["GET"]),
    Route("/_control/smtp/throttle", throttle, methods=["POST"]),
]


def _deliver_locally(mailbox: str, raw: bytes) -> None:
    """Put an accepted message into the recipient's mailbox (Dovecot), so IMAP and POP3 clients find it."""
    try:
        dovecot.deliver(mailbox, raw)
    except dovecot.DovecotError as error:  # the emulator runs without Dovecot: SMTP still accepts and keeps mail
        log.warning("SMTP: not delivered to %s: %s", mailbox, error)
