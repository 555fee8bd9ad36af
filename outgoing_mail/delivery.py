"""Delivering one queued message: choose the route, respect the mailbox's limit, send, record the outcome.

Routes:
- the tenant chose a connected Exchange Online system: Outlook SMTP (settings), STARTTLS, AUTH XOAUTH2 as the
  connected mailbox or the shared mailbox it sends as, with a token from the token store;
- the tenant chose a custom SMTP server: its host, port, security and user name/password;
- otherwise (no tenant, or the tenant keeps the default): the operator's Django backend (OPERATOR_EMAIL_BACKEND
  with the EMAIL_* settings; the console when nothing is configured).

Portal mail is retried on transient failures with exponential backoff; a test email is tried once so the admin
sees the outcome. Nothing secret is logged: neither the content, the password nor the token.
"""

from __future__ import annotations

import base64
import email
import email.message
import logging
from dataclasses import dataclass
from datetime import timedelta
from email.utils import formataddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.message import MIMEMixin
from django.db.models import QuerySet
from django.utils import timezone

from background.claims import Claim, in_turns, work_claim, work_release
from credentials.errors import CredentialError, CredentialUnavailable
from mail_servers.choices import ServerStatus
from mail_servers.connections import MailServerNotConfigured, SmtpConnection, smtp_connection
from mail_servers.services import mail_server_status_record
from mail_servers.validation import without_control_characters
from microsoft import errors
from microsoft.smtp import (
    Login,
    OutgoingMessage,
    SmtpAuthDisabled,
    SmtpAuthenticationFailed,
    SmtpSendAsDenied,
    smtp_send,
)
from outgoing_mail.choices import PENDING_STATUSES, FailureKind, OutboundPurpose, OutboundStatus
from outgoing_mail.limiter import SendSlot, send_slot_confirm, send_slot_release, send_slot_reserve
from outgoing_mail.models import OutboundEmail, OutgoingMailSettings

__all__ = [
    "DeliveryOutcome",
    "outbound_email_deliver",
    "outbound_emails_deliver_in_turns",
    "outbound_emails_pending",
    "outbound_emails_prune",
]

logger = logging.getLogger(__name__)

# A message is held this long by the worker sending it. Generous: a worker that died after the server took the
# message gets it sent twice, so a live one must never look dead.
SEND_LEASE = timedelta(minutes=10)
# A message due this long without being claimed lost its task (worker or broker gone): the sweep queues it.
SWEEP_GRACE = timedelta(minutes=2)
MAX_RETRY_DELAY = 3600.0


@dataclass(frozen=True)
class DeliveryOutcome:
    status: str
    retry_in: float | None = None  # seconds: queue the task again then


@dataclass(frozen=True)
class _Route:
    connection: SmtpConnection | None  # None: the operator's Django backend
    sender: str = ""  # envelope and From address; blank keeps the message's own
    sender_name: str = ""
    rate_key: str = ""
    label: str = "the operator's mail server"
    server_id: int | None = None  # the tenant's mail server account, whose status each outcome records


class _NotSent(Exception):
    def __init__(
        self,
        kind: str,
        explanation: str,
        *,
        retryable: bool,
        fix_url: str = "",
        reply: str = "",
        retry_after: float | None = None,
        server_id: int | None = None,
    ) -> None:
        super().__init__(explanation)
        self.kind, self.explanation, self.retryable = kind, explanation, retryable
        self.fix_url, self.reply, self.retry_after = fix_url, reply, retry_after
        self.server_id = server_id  # the tenant's server that failed; None: the operator's


# --- the entry point --------------------------------------------------------------------------------------------


def outbound_email_deliver(*, outbound_id: int) -> DeliveryOutcome:
    """Deliver one queued message once (called by the Celery task); says when to try again, if at all."""
    claim = work_claim(outbound_emails_pending(), outbound_id, lease=SEND_LEASE, status=OutboundStatus.SENDING)
    if claim is None:
        return DeliveryOutcome(status="skipped")  # not due, already sent, or another worker is sending it
    outbound = OutboundEmail.objects.select_related("tenant").get(pk=outbound_id)
    try:
        route = _route(outbound)
        _note_mailbox(outbound, route)
        slot = send_slot_reserve(key=route.rate_key) if route.rate_key else None
        if slot is not None and not slot.granted:
            return _hold_for_limit(outbound, claim, slot.wait)
        _send(outbound, route, slot)
    except _NotSent as failure:
        _server_status_record(failure)
        if _should_fall_back(outbound, failure):
            return _fall_back(outbound, claim, failure)
        return _failed(outbound, claim, failure)
    except Exception:  # a bug or an unexpected library error must not leave the message stuck in SENDING
        logger.exception("Outbound email %s: unexpected error while sending", outbound.pk)
        unexpected = _NotSent(
            FailureKind.TRANSIENT,
            "An unexpected error occurred while sending; it was logged "
            "for the operator and the message will be tried again.",
            retryable=True,
        )
        return _failed(outbound, claim, unexpected)
    return _sent(outbound, claim, route)


@dataclass(frozen=True)
class BatchOutcome:
    taken: int  # messages the batch took (sent, failed, held or sent meanwhile by another worker)
    full: bool  # it took a whole batch: more may be waiting
    retries: list[tuple[int, float]]  # (message id, seconds): queue its own task again then


def outbound_emails_deliver_in_turns(*, batch: int) -> BatchOutcome:
    """Deliver the next `batch` due messages, taken per tenant in turns (background.claims.in_turns), so that
    one tenant's backlog of thousands delays another tenant's first message by at most one batch.

    Workers running batches at once share one: each claims the message before sending, and skips the ones
    another worker holds.
    """
    ids = in_turns(outbound_emails_pending(), by="tenant_id", limit=batch)
    retries = []
    for outbound_id in ids:
        outcome = outbound_email_deliver(outbound_id=outbound_id)
        if outcome.retry_in is not None:
            retries.append((outbound_id, outcome.retry_in))
    return BatchOutcome(taken=len(ids), full=len(ids) >= batch, retries=retries)


def _note_mailbox(outbound: OutboundEmail, route: _Route) -> None:
    mailbox = (route.connection.mailbox if route.connection else "") or route.sender
    if mailbox and mailbox != outbound.sending_mailbox:
        outbound.sending_mailbox = mailbox[:320]
        OutboundEmail.objects.filter(pk=outbound.pk).update(sending_mailbox=outbound.sending_mailbox)


def outbound_emails_pending() -> QuerySet[OutboundEmail]:
    """The messages still to be delivered: the kind of background work the sweep looks after."""
    return OutboundEmail.objects.filter(status__in=PENDING_STATUSES)


def _settle(outbound: OutboundEmail, claim: Claim, **fields: Any) -> None:
    if not work_release(outbound_emails_pending(), claim, **fields):
        logger.warning("Outbound email %s: its lease ran out while sending; the outcome was not recorded", outbound.pk)


# --- routes -----------------------------------------------------------------------------------------------------


def _route(outbound: OutboundEmail) -> _Route:
    config = (
        OutgoingMailSettings.objects.select_related("mail_server__exchange_system")
        .filter(tenant=outbound.tenant)
        .first()
    )
    if outbound.tenant is None or config is None or not config.use_own_server:
        return _Route(connection=None)
    try:
        connection = smtp_connection(config.mail_server)
    except MailServerNotConfigured as exc:
        raise _NotSent(
            FailureKind.CONFIGURATION,
            f"The outgoing SMTP server cannot be used: {exc} Or choose another server in Settings > Network.",
            retryable=False,
            server_id=config.mail_server_id,
        ) from None
    # The form refuses control characters; a name saved before it did must not break a header either.
    name = without_control_characters(config.from_name or outbound.tenant.display_name)
    if connection.is_exchange:
        mailbox = connection.mailbox  # AUTH XOAUTH2 user=, with a token fetched right before sending
        return _Route(
            connection,
            sender=mailbox,
            sender_name=name,
            rate_key=f"exchange:{mailbox}",
            label=f"Exchange Online as {mailbox}",
            server_id=config.mail_server_id,
        )
    server, identity = connection.server, connection.mailbox or config.from_address
    return _Route(
        connection,
        sender=config.from_address,
        sender_name=name,
        rate_key=f"smtp:{server.host}:{server.port}:{identity.lower()}",
        label=server.address + (f" as {connection.mailbox}" if connection.mailbox else ""),
        server_id=config.mail_server_id,
    )


# --- sending ----------------------------------------------------------------------------------------------------


def _send(outbound: OutboundEmail, route: _Route, slot: SendSlot | None) -> None:
    data = base64.b64decode(outbound.message)
    if route.connection is None:
        _send_with_operator_backend(outbound, data)
        return
    message = OutgoingMessage(
        envelope_from=route.sender, recipients=tuple(outbound.recipients), data=_with_sender(data, route)
    )
    try:
        _send_smtp(route, message)
    except _NotSent as failure:
        if slot is not None and failure.kind != FailureKind.REJECTED:
            send_slot_release(slot=slot)  # refused before the server took the message
        raise
    if slot is not None:
        send_slot_confirm(slot=slot)


def _send_smtp(route: _Route, message: OutgoingMessage) -> None:
    connection = route.connection
    assert connection is not None
    try:
        if not connection.is_exchange:
            smtp_send(server=connection.server, login=connection.login(), message=message)
            return
        try:
            smtp_send(server=connection.server, login=_token_login(route, refresh=False), message=message)
        except SmtpAuthenticationFailed:
            # Exchange may refuse a token we still think valid (revoked, clock skew): refresh it once and retry.
            smtp_send(server=connection.server, login=_token_login(route, refresh=True), message=message)
    except errors.MicrosoftError as exc:
        raise _classified(exc, route) from None


def _token_login(route: _Route, *, refresh: bool) -> Login:
    assert route.connection is not None and route.connection.exchange_system is not None
    try:
        return route.connection.login(refresh_token=refresh)
    except CredentialUnavailable as exc:
        raise _NotSent(
            FailureKind.RECONNECT,
            f"The Exchange Online connection “{route.connection.exchange_system.title}” must be reconnected "
            f"before it can send mail: {exc.reason} Open the system and use Reconnect.",
            retryable=False,
            fix_url=exc.fix_url,
            server_id=route.server_id,
        ) from None
    except CredentialError as exc:
        raise _NotSent(FailureKind.CONFIGURATION, str(exc), retryable=False, server_id=route.server_id) from None


def _classified(exc: errors.MicrosoftError, route: _Route) -> _NotSent:
    reply = exc.description
    if not exc.permanent:
        return _NotSent(
            FailureKind.TRANSIENT,
            exc.explanation,
            retryable=True,
            reply=reply,
            retry_after=exc.retry_after,
            server_id=route.server_id,
        )
    kinds: tuple[tuple[type[errors.MicrosoftError], str], ...] = (
        (SmtpAuthDisabled, FailureKind.SMTP_AUTH_DISABLED),
        (SmtpAuthenticationFailed, FailureKind.AUTH_FAILED),
        (SmtpSendAsDenied, FailureKind.SEND_AS_DENIED),
        (errors.ConfigurationError, FailureKind.CONFIGURATION),
    )
    kind = next((kind for error_class, kind in kinds if isinstance(exc, error_class)), FailureKind.REJECTED)
    return _NotSent(kind, exc.explanation, retryable=False, reply=reply, server_id=route.server_id)


def _with_sender(data: bytes, route: _Route) -> bytes:
    """The stored message with the route's From (Exchange refuses any other sender)."""
    parsed = email.message_from_bytes(data, _class=_Message)
    del parsed["From"]
    parsed["From"] = formataddr((route.sender_name, route.sender))
    return parsed.as_bytes(linesep="\r\n")


class _Message(MIMEMixin, email.message.Message):  # type: ignore[misc]  # Django adds linesep=
    """A parsed stored message that Django's backends can serialize (`as_bytes(linesep=...)`)."""


class _StoredEmailMessage(EmailMessage):
    """Hands the stored bytes to any Django email backend unchanged."""

    def __init__(self, outbound: OutboundEmail, data: bytes) -> None:
        super().__init__(subject=outbound.subject, from_email=outbound.from_email, to=list(outbound.recipients))
        self._parsed = email.message_from_bytes(data, _class=_Message)

    def message(self) -> Any:
        return self._parsed

    def recipients(self) -> list[str]:
        return list(self.to)


def _send_with_operator_backend(outbound: OutboundEmail, data: bytes) -> None:
    connection = get_connection(settings.OPERATOR_EMAIL_BACKEND, fail_silently=False)
    try:
        connection.send_messages([_StoredEmailMessage(outbound, data)])
    except OSError as exc:  # Django's SMTP backend raises smtplib/socket errors (OSError subclasses)
        raise _NotSent(
            FailureKind.TRANSIENT,
            f"The operator's mail server could not take the message ({type(exc).__name__}). It will be retried.",
            retryable=True,
        ) from None


# --- outcomes ---------------------------------------------------------------------------------------------------


def _server_status_record(failure: _NotSent) -> None:
    """What this send showed of the tenant's server: a refused message says nothing about the server; a
    temporary failure is tried again; anything else waits for a person."""
    if failure.server_id is None or failure.kind == FailureKind.REJECTED:
        return
    status = ServerStatus.FAILED if failure.retryable else ServerStatus.NEEDS_ACTION
    mail_server_status_record(
        account_id=failure.server_id, status=status, reason=failure.explanation, fix_url=failure.fix_url
    )


def _sent(outbound: OutboundEmail, claim: Claim, route: _Route) -> DeliveryOutcome:
    if route.server_id is not None:
        mail_server_status_record(account_id=route.server_id, status=ServerStatus.OK)
    _settle(
        outbound,
        claim,
        status=OutboundStatus.SENT,
        sent_at=timezone.now(),
        sent_via=route.label[:400],
        attempts=outbound.attempts + 1,
        failure_kind="",
        last_error="",
        server_reply="",
        fix_url="",
        waiting_for_limit=False,
        next_attempt_at=None,
    )
    logger.info("Outbound email %s sent via %s", outbound.pk, route.label)
    return DeliveryOutcome(status=OutboundStatus.SENT)


def _should_fall_back(outbound: OutboundEmail, failure: _NotSent) -> bool:
    """Portal mail must reach the admins even when the tenant's server is what needs fixing (a reconnect prompt
    sent through the very mailbox that must be reconnected would never arrive)."""
    return (
        outbound.purpose == OutboundPurpose.MAIL
        and outbound.tenant_id is not None
        and not failure.retryable
        and failure.kind != FailureKind.REJECTED
    )


def _fall_back(outbound: OutboundEmail, claim: Claim, failure: _NotSent) -> DeliveryOutcome:
    try:
        _send_with_operator_backend(outbound, base64.b64decode(outbound.message))
    except _NotSent:
        return _failed(outbound, claim, failure)
    _settle(
        outbound,
        claim,
        status=OutboundStatus.SENT,
        sent_at=timezone.now(),
        attempts=outbound.attempts + 1,
        sent_via="the operator's mail server, because the tenant's server failed",
        failure_kind=failure.kind,
        last_error=failure.explanation,
        server_reply=failure.reply[:300],
        fix_url=failure.fix_url[:300],
        waiting_for_limit=False,
        next_attempt_at=None,
    )
    logger.warning(
        "Outbound email %s went through the operator's server: the tenant's failed (%s)", outbound.pk, failure.kind
    )
    return DeliveryOutcome(status=OutboundStatus.SENT)


def _hold_for_limit(outbound: OutboundEmail, claim: Claim, wait: float) -> DeliveryOutcome:
    _settle(
        outbound,
        claim,
        status=OutboundStatus.QUEUED,
        waiting_for_limit=True,
        next_attempt_at=timezone.now() + timedelta(seconds=wait),
    )
    logger.info("Outbound email %s waits %.1fs for its mailbox's sending limit", outbound.pk, wait)
    return DeliveryOutcome(status=OutboundStatus.QUEUED, retry_in=wait)


def _failed(outbound: OutboundEmail, claim: Claim, failure: _NotSent) -> DeliveryOutcome:
    attempts = outbound.attempts + 1
    retry = (
        failure.retryable
        and outbound.purpose != OutboundPurpose.TEST
        and attempts < int(settings.OUTGOING_MAIL_MAX_ATTEMPTS)
    )
    fields: dict[str, Any] = {
        "attempts": attempts,
        "failure_kind": failure.kind,
        "last_error": failure.explanation,
        "server_reply": failure.reply[:300],
        "fix_url": failure.fix_url[:300],
        "waiting_for_limit": False,
    }
    if retry:
        delay = _retry_delay(attempts, failure.retry_after)
        _settle(
            outbound,
            claim,
            status=OutboundStatus.QUEUED,
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
            **fields,
        )
        logger.warning("Outbound email %s: %s; retry %d in %.0fs", outbound.pk, failure.kind, attempts, delay)
        return DeliveryOutcome(status=OutboundStatus.QUEUED, retry_in=delay)
    _settle(outbound, claim, status=OutboundStatus.FAILED, next_attempt_at=None, **fields)
    logger.warning("Outbound email %s failed after %d attempt(s): %s", outbound.pk, attempts, failure.kind)
    return DeliveryOutcome(status=OutboundStatus.FAILED)


def _retry_delay(attempts: int, retry_after: float | None) -> float:
    backoff = float(settings.OUTGOING_MAIL_RETRY_BASE_SECONDS) * 2 ** (attempts - 1)
    return min(max(backoff, retry_after or 0.0), MAX_RETRY_DELAY)


# --- housekeeping ---------------------------------------------------------------------------------------------


def outbound_emails_prune(*, older_than: timedelta = timedelta(days=30)) -> int:
    """Forget finished messages after a while: their content may hold secrets (reset links) and is not needed."""
    finished = (OutboundStatus.SENT, OutboundStatus.FAILED)
    deleted, _ = OutboundEmail.objects.filter(status__in=finished, created_at__lt=timezone.now() - older_than).delete()
    return deleted
