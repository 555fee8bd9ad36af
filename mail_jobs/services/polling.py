"""The poller: every accepted attachment becomes a print job of the sender; nothing is lost or printed twice.

A poll keeps one session and goes through the mailbox in batches (up to BATCH_MESSAGES, BATCH_BYTES): one read
of the batch (IMAP: one UID FETCH; POP3: the RETRs pipelined), its jobs and ProcessedMessage records in one
transaction, and only after that commits one delete, move or mark of the batch. The mail server's part (that
clean-up, then reading the next batch) runs in a thread while the worker parses and writes a batch. A crash
before the commit leaves the batch's messages for the next poll (the jobs are unique per source key, so a
half-done attempt never doubles them); a crash after it finds the records next time and only redoes the
clean-up. POP3 deletions take effect at QUIT, so a crash keeps those messages too. A message the parser cannot
take apart is refused on its own; when the database refuses a batch for something of one message's, the batch is
written again a message at a time.
Two polls of one source never overlap: a poll is background work (background.claims) that claims the source
row with a lease, renewed per batch; a dead worker's poll loses it when it runs out, and the sweep, which
also queues each poll when the source's interval is up, queues it again.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from accounts.mail import tenant_mail_send
from accounts.selectors import user_by_address
from accounts.services import user_register_by_email
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
from print_jobs.services import NewPrintJob, print_jobs_create, print_jobs_discard
from throttling.services import Throttled, scope_limits, throttle_take

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)

MAX_MESSAGES_PER_POLL = 2000
POLL_SECONDS = 120  # no batch is started after this; the rest waits for the next poll (a session may last 600 s)
BATCH_MESSAGES = 50  # read in one command, written in one transaction
BATCH_BYTES = 2 * 1024 * 1024  # what a batch holds in memory at most, besides its first message


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
    recorded = dict(
        ProcessedMessage.objects.filter(source=source, message_key__in=[ref.url for ref in refs]).values_list(
            "message_key", "pk"
        )
    )
    # Processed before, but the clean-up did not happen (a crash after the commit): only the clean-up is redone.
    _clean_up(source, mailbox, [(ref, recorded[ref.url]) for ref in refs if ref.url in recorded])
    owners = _Owners(source)
    waiting = deque(ref for ref in refs if ref.url not in recorded)
    handled = len(recorded)
    stop_at = time.monotonic() + POLL_SECONDS
    if not waiting:
        return handled
    reads, deferred = _read_batch(source, mailbox, _next_batch(waiting, source.max_message_bytes))
    waiting.extendleft(reversed(deferred))
    committed: list[tuple[MessageRef, int]] = []  # written, not cleaned up yet
    # The mail server's part of a batch (cleaning up the one before, reading the next) runs in a thread while this
    # one parses and writes the batch, so neither waits for the other. Only that thread uses the session meanwhile;
    # it never touches the database; leaving the block waits for it, so the session is never closed under it.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mail-read-ahead") as server_side:
        while True:
            ahead = _next_batch(waiting, source.max_message_bytes) if time.monotonic() < stop_at else []
            pending = server_side.submit(_clean_up_and_read, source, mailbox, committed, ahead)
            done = _accept_reads(source, reads, owners)
            reads, deferred = pending.result()
            waiting.extendleft(reversed(deferred))
            _cleaned_up(committed)
            work_renew(mail_sources_polled(), claim, lease=_lease())
            handled += len(done)
            committed = done
            if not ahead:
                break
    _clean_up(source, mailbox, committed)
    return handled


def _next_batch(waiting: deque[MessageRef], max_bytes: int) -> list[MessageRef]:
    """The next messages to read in one go: up to BATCH_MESSAGES, as long as their announced sizes fit BATCH_BYTES
    (the first one whatever its size)."""
    batch: list[MessageRef] = []
    size = 0
    while waiting and len(batch) < BATCH_MESSAGES:
        announced = min(waiting[0].size, max_bytes)
        if batch and size + announced > BATCH_BYTES:
            break
        batch.append(waiting.popleft())
        size += announced
    return batch


# A message read: its bytes, whether they are whole, and what the parser made of them (or the parser's failure).
_Read = tuple[MessageRef, bytes, bool, ParsedMail | Exception]


def _read_batch(
    source: MailJobSource, mailbox: Mailbox, batch: list[MessageRef]
) -> tuple[list[_Read], list[MessageRef]]:
    """Read and parse the batch: each message with whether it is whole, and the messages the batch had no room
    for (they go back to the front of the queue). A message the server would not hand out is left for the next
    poll. Parsing needs no database, so it is done by the thread that reads, while the worker waits on the
    database for the batch before."""
    reads, deferred = _fetch_batch(source, mailbox, batch)
    return _parse_batch(reads), deferred


def _parse_batch(reads: list[tuple[MessageRef, bytes, bool]]) -> list[_Read]:
    return [(ref, raw, complete, _parsed(raw, complete)) for ref, raw, complete in reads]


def _fetch_batch(
    source: MailJobSource, mailbox: Mailbox, batch: list[MessageRef]
) -> tuple[list[tuple[MessageRef, bytes, bool]], list[MessageRef]]:
    if not batch:
        return [], []
    fits = [ref for ref in batch if ref.size <= source.max_message_bytes]
    fetched = mailbox.fetch_many(fits, max_bytes=source.max_message_bytes, budget=BATCH_BYTES)
    reads: list[tuple[MessageRef, bytes, bool]] = []
    for ref in batch:
        if ref.size > source.max_message_bytes:  # announced too large: read only its header, to tell the sender
            try:
                reads.append((ref, mailbox.fetch_headers(ref), False))
            except MessageUnavailable as exc:
                _skipped(source, ref, exc.message)
        elif ref.key in fetched.messages:
            message = fetched.messages[ref.key]
            reads.append((ref, message.data, message.complete))
        elif ref not in fetched.deferred:
            _skipped(source, ref, "the server would not hand it out")
    return reads, fetched.deferred


def _parsed(raw: bytes, complete: bool) -> ParsedMail | Exception:
    try:
        return parse_mail(raw) if complete else parse_headers(raw)
    except Exception as exc:  # the message's doing: it is refused as unreadable when its batch is written
        return exc


def _clean_up_and_read(
    source: MailJobSource, mailbox: Mailbox, committed: list[tuple[MessageRef, int]], batch: list[MessageRef]
) -> tuple[list[_Read], list[MessageRef]]:
    """The mail server's part: read the next batch, then clean up the one whose records committed. A deletion is
    sent without waiting, and the batch read is parsed while the server deletes (its longest part: a file a
    message on Dovecot); the server's answers are read before the session is used again."""
    reads, deferred = _fetch_batch(source, mailbox, batch)
    answers = _clean_up_sent(source, mailbox, [ref for ref, _record in committed])
    try:
        parsed = _parse_batch(reads)
    finally:
        answers()  # whatever happened, the session is in step again before anything else uses it
    return parsed, deferred


def _skipped(source: MailJobSource, ref: MessageRef, why: str) -> None:
    # The server's trouble with this one message: the rest go on, and it is tried again at the next poll.
    logger.warning("mail source %s: %s is skipped this time: %s", source.pk, ref.url, why)


def _accept_reads(source: MailJobSource, reads: list[_Read], owners: _Owners) -> list[tuple[MessageRef, int]]:
    """Jobs and records of several messages in one transaction; returns each message with its record. When that
    fails for a reason of a message's own (the database refused something of it), each message goes again in its
    own transaction, so that only the culprit is refused."""
    if not reads:
        return []
    try:
        with transaction.atomic():
            records = _write(
                source,
                [_decision(source, ref.url, raw, complete, owners, parsed) for ref, raw, complete, parsed in reads],
            )
    except _NOT_THE_MESSAGES_FAULT:
        raise
    except Exception as exc:
        logger.info("mail source %s: the batch is written a message at a time (%s)", source.pk, type(exc).__name__)
        owners.forget()  # a user registered in the rolled-back transaction is gone
        records = [_accept_read(source, ref.url, raw, complete, owners) for ref, raw, complete, _outcome in reads]
    return [(read[0], record.pk) for read, record in zip(reads, records, strict=True)]


def _process_message(source: MailJobSource, mailbox: Mailbox, ref: MessageRef) -> ProcessedMessage:
    """Turn one message into jobs, or into a rejection with its reason: whatever the message holds, it ends up
    recorded (so it is cleaned up as the settings say and the poll goes on), unless the mail server or the
    database failed, which ends the poll and leaves the message for the next one."""
    if ref.size > source.max_message_bytes:  # announced too large: read only its header, to tell the sender
        raw, complete = mailbox.fetch_headers(ref), False
    else:  # the announced size is a claim: the read is capped whatever it says
        fetched = mailbox.fetch(ref, max_bytes=source.max_message_bytes)
        raw, complete = fetched.data, fetched.complete
    return _accept_read(source, ref.url, raw, complete, _Owners(source))


def _accept_read(source: MailJobSource, key: str, raw: bytes, complete: bool, owners: _Owners) -> ProcessedMessage:
    try:
        with transaction.atomic():
            return _write(source, [_decision(source, key, raw, complete, owners)])[0]
    except _NOT_THE_MESSAGES_FAULT:
        raise
    except Exception as exc:  # anything else is this message's doing, and must not stop the rest
        logger.warning("mail source %s: %s could not be read (%s)", source.pk, key, type(exc).__name__)
        owners.forget()
        with transaction.atomic():
            return _write(source, [_unreadable(source, key, raw)])[0]


# Failures of the mail server or the database, not of the message: the poll stops and tries again later.
_NOT_THE_MESSAGES_FAULT = (MicrosoftError, OperationalError, InterfaceError)


@dataclass
class _Decision:
    """What becomes of one message: its jobs (none when refused) and the reasons for what was refused."""

    key: str
    parsed: ParsedMail
    owner: User | None = None
    documents: list[tuple[int | str, str, bytes, str]] = field(default_factory=list)  # part, title, content, type
    reasons: list[str] = field(default_factory=list)
    may_reply: bool = True


def _decision(
    source: MailJobSource,
    key: str,
    raw: bytes,
    complete: bool,
    owners: _Owners,
    parsed: ParsedMail | Exception | None = None,
) -> _Decision:
    """Take the message apart (unless `parsed` says what the parser made of it) and decide; a message that breaks
    the parser is refused as unreadable here, without touching the batch's transaction. Writes nothing but a user
    registered by mail."""
    if parsed is None:
        parsed = _parsed(raw, complete)
    if isinstance(parsed, Exception):
        logger.warning("mail source %s: %s could not be read (%s)", source.pk, key, type(parsed).__name__)
        return _unreadable(source, key, raw)
    if source.requires_exchange_authentication and not parsed.exchange.accepted:
        # The sender may be forged: no reply, which would go to whoever the forger named.
        return _Decision(key, parsed, reasons=[parsed.exchange.reason], may_reply=False)
    if not complete:
        reason = (
            f"The message is larger than {source.max_message_size_mb} MB; messages up to "
            f"{source.max_message_size_mb} MB are accepted. Send fewer or smaller files."
        )
        return _Decision(key, parsed, reasons=[reason])
    owner, reasons = owners.of(parsed.sender)
    decision = _Decision(key, parsed, owner, reasons=reasons)
    if owner is not None:
        _documents(source, decision)
    return decision


def _unreadable(source: MailJobSource, key: str, raw: bytes) -> _Decision:
    parsed = parse_headers(raw)
    reason = (
        "The message could not be read: its structure is broken or more complex than a mail program writes. "
        "Send the documents again in a new message."
    )
    vouched = parsed.exchange.accepted or not source.requires_exchange_authentication
    return _Decision(key, parsed, reasons=[reason], may_reply=vouched)


def _write(source: MailJobSource, decisions: list[_Decision]) -> list[ProcessedMessage]:
    """The jobs and the records of `decisions`, each kind in one INSERT; replies go once the transaction commits.
    Runs inside the caller's transaction: when anything here fails, it rolls back, and the documents stored for
    the jobs go with it (a killed worker's stay behind, named by no job: harmless, see print_jobs_discard)."""
    jobs = print_jobs_create(
        source=JobSource.EMAIL,
        jobs=[
            NewPrintJob(decision.owner, _job_key(source, decision.key, part), title, content, content_type)
            for decision in decisions
            if decision.owner is not None
            for part, title, content, content_type in decision.documents
        ],
    )
    try:
        return _records_write(source, decisions)
    except BaseException:
        print_jobs_discard(jobs=jobs)
        raise


def _records_write(source: MailJobSource, decisions: list[_Decision]) -> list[ProcessedMessage]:
    records = []
    for decision in decisions:
        jobs, reasons = len(decision.documents), decision.reasons
        outcome = Outcome.REJECTED if jobs == 0 else Outcome.PARTLY if reasons else Outcome.PRINTED
        reply = bool(reasons) and decision.may_reply and _may_reply(source, decision.parsed)
        records.append(
            ProcessedMessage(
                tenant_id=source.tenant_id,
                source=source,
                message_key=decision.key,
                sender=decision.parsed.sender[:320],
                subject=decision.parsed.subject,
                owner=decision.owner,
                outcome=outcome,
                jobs_created=jobs,
                reasons=reasons,
                replied=reply,
            )
        )
        if reply:
            transaction.on_commit(partial(_reply, source, decision.parsed, outcome, reasons))
    return ProcessedMessage.objects.bulk_create(records)


class _Owners:
    """Whom a sender's mail is printed for, looked up once per sender in a poll."""

    def __init__(self, source: MailJobSource) -> None:
        self.source = source
        self.found: dict[str, User | None] = {}

    def forget(self) -> None:
        self.found.clear()

    def of(self, sender: str) -> tuple[User | None, list[str]]:
        if not sender:
            return None, ["The message has no sender address, so it cannot be printed for anyone."]
        if sender not in self.found:
            self.found[sender] = _owner(self.source, sender)
        user = self.found[sender]
        if user is not None:
            return user, []
        return None, [
            f"{sender} is not a user of {self.source.tenant.display_name}. Ask an administrator to add this "
            "address to your account (as your email or an alias), then send the message again."
        ]


def _owner(source: MailJobSource, sender: str) -> User | None:
    user = user_by_address(tenant=source.tenant, email=sender)
    if (
        user is None
        and source.unknown_senders == UnknownSenders.REGISTER
        and source.tenant.allow_self_registration_by_email
    ):
        user = user_register_by_email(tenant=source.tenant, email=sender)
    if user is not None:
        user.tenant = source.tenant  # the lookup is the tenant's: its jobs need not read it again
    return user


def _documents(source: MailJobSource, decision: _Decision) -> None:
    """The documents of the message to print, and a reason for each part that is not printed."""
    allowed = [DOCUMENT_TYPES[k][0] for k in source.document_types if k in DOCUMENT_TYPES]
    parsed = decision.parsed
    for attachment in parsed.attachments:
        kind = document_type_of(attachment)
        if kind is None or kind not in source.document_types:
            decision.reasons.append(
                f"{attachment.filename} ({attachment.content_type}) is not a document type that is "
                f"printed here. Accepted: {', '.join(allowed) or 'none'}."
            )
            continue
        decision.documents.append((attachment.index, attachment.filename, attachment.content, attachment.content_type))
    if source.print_body and parsed.body_text:
        title = f"{parsed.subject or 'Message'}.txt"[:255]
        decision.documents.append(("body", title, parsed.body_text.encode(), "text/plain"))
    if not decision.documents and not decision.reasons:
        decision.reasons.append("The message has nothing to print: attach the documents to the message.")


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


def _clean_up(source: MailJobSource, mailbox: Mailbox, done: list[tuple[MessageRef, int]]) -> None:
    """Delete, move or mark the messages whose records committed, all at once, and note it on the records."""
    _clean_up_messages(source, mailbox, [ref for ref, _record in done])
    _cleaned_up(done)


def _clean_up_messages(source: MailJobSource, mailbox: Mailbox, refs: list[MessageRef]) -> None:
    _clean_up_sent(source, mailbox, refs)()


def _clean_up_sent(source: MailJobSource, mailbox: Mailbox, refs: list[MessageRef]) -> Callable[[], None]:
    """Clean up `refs`; a deletion is only sent, and the function returned reads the server's answers (a move or
    a mark is done at once: they are quick)."""
    if not refs:
        return _nothing
    action = source.after_processing if source.mail_server.protocol == Protocol.IMAP else AfterProcessing.DELETE
    if action == AfterProcessing.MOVE:
        mailbox.move_many(refs, source.move_to_folder)
    elif action == AfterProcessing.MARK_READ:
        mailbox.mark_read_many(refs)
    else:
        return mailbox.delete_many_sent(refs)
    return _nothing


def _nothing() -> None:
    pass


def _cleaned_up(done: list[tuple[MessageRef, int]]) -> None:
    if done:
        ProcessedMessage.objects.filter(pk__in=[pk for _ref, pk in done], cleaned_up_at__isnull=True).update(
            cleaned_up_at=timezone.now()
        )


def _lease() -> timedelta:
    return timedelta(seconds=settings.MAIL_JOBS_POLL_LEASE_SECONDS)
