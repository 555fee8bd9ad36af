"""The poller: every accepted attachment becomes a print job of the sender; nothing is lost or printed twice.

Per message: take it apart, create its jobs and its ProcessedMessage record in one transaction, and only after
that commits delete, move or mark it. A crash before the commit leaves the message for the next poll (the jobs
are unique per source key, so a half-done attempt never doubles them); a crash after it finds the record next
time and only redoes the clean-up. POP3 deletions take effect at QUIT, so a crash keeps those messages too.
Two polls of one source never overlap: a poll is background work (background.claims) that claims the source
row with a lease, renewed per message; a dead worker's poll loses it when it runs out, and the sweep, which
also queues each poll when the source's interval is up, queues it again.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from accounts.mail import tenant_mail_send
from accounts.models import User
from accounts.selectors import user_by_address
from audit.services import audit_record
from background.claims import Claim, work_claim, work_release, work_renew
from background.kinds import work_queue
from credentials.errors import CredentialUnavailable
from mail_jobs.choices import AfterProcessing, Outcome, UnknownSenders
from mail_jobs.documents import DOCUMENT_TYPES, ParsedMail, document_type_of, parse_headers, parse_mail
from mail_jobs.models import MailJobSource, ProcessedMessage
from mail_servers.choices import Protocol, ServerStatus
from mail_servers.connections import MailServerNotConfigured, mailbox_connection
from mail_servers.services import mail_server_status_record
from microsoft.errors import MicrosoftError
from microsoft.mailbox import Mailbox, MessageRef, MessageUnavailable, open_mailbox
from print_jobs.choices import JobSource
from print_jobs.services import print_job_create
from throttling.services import Throttled, scope_limits, throttle_take

logger = logging.getLogger(__name__)

MAX_MESSAGES_PER_POLL = 50


@dataclass(frozen=True)
class PollResult:
    status: str  # ServerStatus, or "skipped" (not due, disabled, or another poll holds the source)
    processed: int = 0


def mail_sources_polled() -> QuerySet[MailJobSource]:
    """The sources whose mailboxes are polled: the kind of background work the sweep looks after."""
    return MailJobSource.objects.filter(enabled=True)


def mail_source_poll_request(*, source: MailJobSource) -> None:
    """ "Check for mail now": the source's poll is due at once, and queued (a poll under way finishes first)."""
    from mail_jobs.tasks import mail_source_poll_task  # the tasks module imports the services

    MailJobSource.objects.filter(pk=source.pk, enabled=True).update(next_attempt_at=timezone.now())
    work_queue(mail_source_poll_task, source.pk)


def mail_source_poll(*, source_id: int) -> PollResult:
    """Read the source's mailbox once, if its poll is due, and turn its messages into print jobs."""
    claim = work_claim(mail_sources_polled(), source_id, lease=_lease())
    if claim is None:
        return PollResult("skipped")
    source = MailJobSource.objects.select_related("tenant", "mail_server__exchange_system").get(pk=source_id)
    result = PollResult(ServerStatus.FAILED)  # unless the poll says otherwise (it may raise)
    try:
        result = _poll(source, claim)
    finally:
        failed = result.status != ServerStatus.OK
        work_release(
            mail_sources_polled(),
            claim,
            next_attempt_at=timezone.now() + timedelta(minutes=max(source.poll_interval_minutes, 1)),
            attempts=F("attempts") + 1 if failed else 0,
        )
    return result


def _poll(source: MailJobSource, claim: Claim) -> PollResult:
    try:
        connection = mailbox_connection(source.mail_server, folder=source.folder)
        with open_mailbox(connection.server, connection.login(), folder=connection.folder) as mailbox:
            processed = _process_mailbox(source, mailbox, claim)
    except CredentialUnavailable as exc:
        # The token store says a person must act: stop touching the mailbox until the system is reconnected.
        _record(source, ServerStatus.NEEDS_ACTION, exc.reason, exc.fix_url)
        return PollResult(ServerStatus.NEEDS_ACTION)
    except (MicrosoftError, MailServerNotConfigured) as exc:
        message = getattr(exc, "message", str(exc))
        logger.info("mail source %s: poll failed: %s", source.pk, message)
        # A setting or a sign-in a person must fix (the next polls show whether it was), or a failure that passes.
        needs_person = isinstance(exc, MailServerNotConfigured) or exc.needs_person
        status = ServerStatus.NEEDS_ACTION if needs_person else ServerStatus.FAILED
        _record(source, status, message)
        return PollResult(status)
    _record(source, ServerStatus.OK)
    return PollResult(ServerStatus.OK, processed=processed)


def _record(source: MailJobSource, status: str, error: str = "", fix_url: str = "") -> None:
    MailJobSource.objects.filter(pk=source.pk).update(last_poll_at=timezone.now())
    mail_server_status_record(account_id=source.mail_server_id, status=status, reason=error, fix_url=fix_url)


def _process_mailbox(source: MailJobSource, mailbox: Mailbox, claim: Claim) -> int:
    unseen_only = source.mail_server.protocol == Protocol.IMAP and source.after_processing == AfterProcessing.MARK_READ
    refs = mailbox.messages(unseen_only=unseen_only)[:MAX_MESSAGES_PER_POLL]
    for ref in refs:
        record = ProcessedMessage.objects.filter(source=source, message_key=ref.url).first()
        if record is None:
            try:
                record = _process_message(source, mailbox, ref)
            except MessageUnavailable as exc:  # the server's trouble with this one message: the rest go on
                logger.warning("mail source %s: %s is skipped this time: %s", source.pk, ref.url, exc.message)
                continue
        _clean_up(source, mailbox, ref, record)
        work_renew(mail_sources_polled(), claim, lease=_lease())
    return len(refs)


def _process_message(source: MailJobSource, mailbox: Mailbox, ref: MessageRef) -> ProcessedMessage:
    """Turn one message into jobs, or into a rejection with its reason: whatever the message holds, it ends up
    recorded (so it is cleaned up as the settings say and the poll goes on), unless the mail server or the
    database failed, which ends the poll and leaves the message for the next one."""
    if ref.size > source.max_message_bytes:  # announced too large: read only its header, to tell the sender
        raw, complete = mailbox.fetch_headers(ref), False
    else:  # the announced size is a claim: the read is capped whatever it says
        fetched = mailbox.fetch(ref, max_bytes=source.max_message_bytes)
        raw, complete = fetched.data, fetched.complete
    try:
        with transaction.atomic():
            return _accept(source, ref.url, raw, complete=complete)
    except _NOT_THE_MESSAGES_FAULT:
        raise
    except Exception as exc:  # anything else is this message's doing, and must not stop the rest
        logger.warning("mail source %s: %s could not be read (%s)", source.pk, ref.url, type(exc).__name__)
        with transaction.atomic():
            return _record_unreadable(source, ref.url, raw)


# Failures of the mail server or the database, not of the message: the poll stops and tries again later.
_NOT_THE_MESSAGES_FAULT = (MicrosoftError, OperationalError, InterfaceError)


def _accept(source: MailJobSource, key: str, raw: bytes, *, complete: bool) -> ProcessedMessage:
    parsed = parse_mail(raw) if complete else parse_headers(raw)
    if source.requires_exchange_authentication and not parsed.exchange.accepted:
        # The sender may be forged: no reply, which would go to whoever the forger named.
        return _record_message(source, key, parsed, None, 0, [parsed.exchange.reason], may_reply=False)
    if not complete:
        reason = (
            f"The message is larger than {source.max_message_size_mb} MB; messages up to "
            f"{source.max_message_size_mb} MB are accepted. Send fewer or smaller files."
        )
        return _record_message(source, key, parsed, None, 0, [reason])
    owner, reasons = _owner(source, parsed.sender)
    jobs = 0
    if owner is not None:
        jobs, refused = _print(source, owner, parsed, key)
        reasons += refused
    return _record_message(source, key, parsed, owner, jobs, reasons)


def _record_unreadable(source: MailJobSource, key: str, raw: bytes) -> ProcessedMessage:
    parsed = parse_headers(raw)
    reason = (
        "The message could not be read: its structure is broken or more complex than a mail program writes. "
        "Send the documents again in a new message."
    )
    vouched = parsed.exchange.accepted or not source.requires_exchange_authentication
    return _record_message(source, key, parsed, None, 0, [reason], may_reply=vouched)


def _record_message(
    source: MailJobSource,
    key: str,
    parsed: ParsedMail,
    owner: User | None,
    jobs: int,
    reasons: list[str],
    *,
    may_reply: bool = True,
) -> ProcessedMessage:
    outcome = Outcome.REJECTED if jobs == 0 else Outcome.PARTLY if reasons else Outcome.PRINTED
    reply = bool(reasons) and may_reply and _may_reply(source, parsed)
    record = ProcessedMessage.objects.create(
        tenant_id=source.tenant_id,
        source=source,
        message_key=key,
        sender=parsed.sender[:320],
        subject=parsed.subject,
        owner=owner,
        outcome=outcome,
        jobs_created=jobs,
        reasons=reasons,
        replied=reply,
    )
    if reply:
        transaction.on_commit(lambda: _reply(source, parsed, outcome, reasons))
    return record


def _owner(source: MailJobSource, sender: str) -> tuple[User | None, list[str]]:
    if not sender:
        return None, ["The message has no sender address, so it cannot be printed for anyone."]
    user = user_by_address(tenant=source.tenant, email=sender)
    if user is not None:
        return user, []
    if source.unknown_senders == UnknownSenders.REGISTER and source.tenant.allow_self_registration_by_email:
        user = User.objects.create_user(tenant=source.tenant, email=sender)
        audit_record(
            tenant=source.tenant,
            actor=None,
            action="user.registered_by_email",
            target=user,
            details={"via": "Jobs via Email"},
        )
        return user, []
    return None, [
        f"{sender} is not a user of {source.tenant.display_name}. Ask an administrator to add this "
        "address to your account (as your email or an alias), then send the message again."
    ]


def _print(source: MailJobSource, owner: User, parsed: ParsedMail, key: str) -> tuple[int, list[str]]:
    jobs, reasons = 0, []
    allowed = [DOCUMENT_TYPES[k][0] for k in source.document_types if k in DOCUMENT_TYPES]
    for attachment in parsed.attachments:
        kind = document_type_of(attachment)
        if kind is None or kind not in source.document_types:
            reasons.append(
                f"{attachment.filename} ({attachment.content_type}) is not a document type that is "
                f"printed here. Accepted: {', '.join(allowed) or 'none'}."
            )
            continue
        print_job_create(
            owner=owner,
            source=JobSource.EMAIL,
            source_key=_job_key(source, key, attachment.index),
            title=attachment.filename,
            content=attachment.content,
            content_type=attachment.content_type,
        )
        jobs += 1
    if source.print_body and parsed.body_text:
        print_job_create(
            owner=owner,
            source=JobSource.EMAIL,
            source_key=_job_key(source, key, "body"),
            title=f"{parsed.subject or 'Message'}.txt"[:255],
            content=parsed.body_text.encode(),
            content_type="text/plain",
        )
        jobs += 1
    if jobs == 0 and not reasons:
        reasons.append("The message has nothing to print: attach the documents to the message.")
    return jobs, reasons


def _job_key(source: MailJobSource, message_key: str, part: int | str) -> str:
    """A print job's source key: short whatever the message URL's length, and the source's own."""
    return f"{source.pk}:{hashlib.sha256(message_key.encode()).hexdigest()[:40]}:{part}"


def _may_reply(source: MailJobSource, parsed: ParsedMail) -> bool:
    account = source.mail_server
    own = {account.shared_mailbox.lower(), account.username.lower()}
    if account.exchange_system is not None:
        own.add(account.exchange_system.mailbox.lower())
    return source.reply_on_rejection and bool(parsed.sender) and not parsed.automatic and parsed.sender not in own


def _reply(source: MailJobSource, parsed: ParsedMail, outcome: str, reasons: list[str]) -> None:
    try:
        throttle_take(limits=scope_limits("rejection_reply", address=parsed.sender, tenant=source.tenant.name))
    except Throttled:
        # Anyone can forge a sender: without a limit, mail to this mailbox aims the tenant's server at that address.
        logger.info("mail source %s: no rejection reply, the reply limit is reached", source.pk)
        return
    what = "was not printed" if outcome == Outcome.REJECTED else "was only partly printed"
    body = "\n".join(
        [
            f'Your message "{parsed.subject or "(no subject)"}" {what}:',
            "",
            *(f"- {reason}" for reason in reasons),
            "",
            f"{source.tenant.display_name} print service",
        ]
    )
    try:
        tenant_mail_send(
            tenant=source.tenant,
            subject=f"Not printed: {parsed.subject or '(no subject)'}"[:200],
            body=body,
            to=[parsed.sender],
        )
    except Exception:  # a reply that cannot be sent must not undo the processing
        logger.exception("mail source %s: the rejection reply could not be sent", source.pk)


def _clean_up(source: MailJobSource, mailbox: Mailbox, ref: MessageRef, record: ProcessedMessage) -> None:
    action = source.after_processing if source.mail_server.protocol == Protocol.IMAP else AfterProcessing.DELETE
    if action == AfterProcessing.MOVE:
        mailbox.move(ref, source.move_to_folder)
    elif action == AfterProcessing.MARK_READ:
        mailbox.mark_read(ref)
    else:
        mailbox.delete(ref)
    ProcessedMessage.objects.filter(pk=record.pk, cleaned_up_at__isnull=True).update(cleaned_up_at=timezone.now())


def _lease() -> timedelta:
    return timedelta(seconds=settings.MAIL_JOBS_POLL_LEASE_SECONDS)
