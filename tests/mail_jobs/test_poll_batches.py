"""A poll reads and writes its messages in batches: what it costs the database and the mail server is the same
whatever the number of messages in a batch (bench/mail_ingest.py measures it over thousands), and a batch the
database refuses is written a message at a time."""

from __future__ import annotations

import imaplib
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.conf import settings
from django.db import IntegrityError, OperationalError, connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mail_jobs.choices import AfterProcessing
from mail_jobs.models import MailJobSource
from mail_jobs.services import mail_source_poll
from mail_servers.choices import ServerStatus
from microsoft.mailbox import FetchedBatch, FetchedMessage, MessageRef
from print_jobs.models import PrintJob
from tests.mail_jobs.conftest import MAILBOX, SENDER, configure_source
from tests.mail_jobs.helpers import PDF, mail_with_attachments

pytestmark = [pytest.mark.emulator, pytest.mark.usefixtures("mail_jobs_settings")]
MB = 1024 * 1024


def _poll_costs(m365: Any, source: Any, messages: int, commands: Counter[str]) -> tuple[int, Counter[str]]:
    for n in range(messages):
        attachments = [(f"doc-{n}.pdf", "application/pdf", PDF)]
        m365.control.put_mail(MAILBOX, mail_with_attachments(sender=SENDER, to=MAILBOX, attachments=attachments))
    MailJobSource.objects.filter(pk=source.pk).update(next_attempt_at=timezone.now())
    commands.clear()
    with CaptureQueriesContext(connection) as queries, TestCase.captureOnCommitCallbacks(execute=True):
        result = mail_source_poll(source_id=source.pk)
    assert result.status == ServerStatus.OK and result.processed == messages
    return len(queries), Counter(commands)


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_a_poll_makes_the_same_queries_and_commands_for_three_messages_as_for_thirty(
    m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any, sender: Any, protocol: str, monkeypatch: Any
) -> None:
    commands: Counter[str] = Counter()
    command = imaplib.IMAP4._command

    def counted(self: imaplib.IMAP4, name: str, *args: Any) -> Any:
        commands[f"{name} {args[0]}" if name == "UID" else name] += 1
        return command(self, name, *args)

    monkeypatch.setattr(imaplib.IMAP4, "_command", counted)
    source = configure_source(tenant_a, admin_a, protocol=protocol, exchange_system=exchange_system)
    _poll_costs(m365, source, 1, commands)  # the first poll of a source records its status for the first time

    few_queries, few_commands = _poll_costs(m365, source, 3, commands)
    many_queries, many_commands = _poll_costs(m365, source, 30, commands)

    assert PrintJob.objects.filter(owner=sender).count() == 34
    assert many_queries == few_queries, "a query per message crept in"
    assert many_commands == few_commands, "an IMAP command per message crept in"
    assert m365.control.mail_messages(MAILBOX) == []


def test_a_batch_the_database_refuses_is_written_a_message_at_a_time(
    m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any, sender: Any, monkeypatch: Any
) -> None:
    from mail_jobs.services import polling

    source = configure_source(tenant_a, admin_a, exchange_system=exchange_system)
    batch_writes = polling.print_jobs_create

    def refused(**kwargs: Any) -> Any:
        if len(kwargs["jobs"]) > 1:  # as when another delivery of one of the batch's keys won
            raise IntegrityError("duplicate key value violates unique constraint")
        return batch_writes(**kwargs)

    monkeypatch.setattr(polling, "print_jobs_create", refused)
    _poll_costs(m365, source, 3, Counter())

    assert sorted(PrintJob.objects.filter(owner=sender).values_list("title", flat=True)) == [
        "doc-0.pdf",
        "doc-1.pdf",
        "doc-2.pdf",
    ]
    assert m365.control.mail_messages(MAILBOX) == []


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_a_batch_is_cleaned_up_only_once_its_records_committed(
    m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any, sender: Any, protocol: str, monkeypatch: Any
) -> None:
    """The server's part of a batch runs while the next one is written: when the database fails in the middle of
    the poll, the batch that committed is cleaned up and the one that did not is still in the mailbox, and the next
    poll prints only what was left."""
    from mail_jobs.services import polling

    monkeypatch.setattr(polling, "BATCH_MESSAGES", 2)
    source = configure_source(tenant_a, admin_a, protocol=protocol, exchange_system=exchange_system)
    batch_writes, calls = polling.print_jobs_create, []

    def failing_second(**kwargs: Any) -> Any:
        calls.append(len(kwargs["jobs"]))
        if len(calls) == 2:
            raise OperationalError("the server closed the connection unexpectedly")
        return batch_writes(**kwargs)

    monkeypatch.setattr(polling, "print_jobs_create", failing_second)
    for n in range(6):
        attachments = [(f"doc-{n}.pdf", "application/pdf", PDF)]
        subject = f"doc {n}"
        m365.control.put_mail(
            MAILBOX, mail_with_attachments(sender=SENDER, to=MAILBOX, subject=subject, attachments=attachments)
        )
    with pytest.raises(OperationalError), TestCase.captureOnCommitCallbacks(execute=True):
        mail_source_poll(source_id=source.pk)

    assert sorted(PrintJob.objects.filter(owner=sender).values_list("title", flat=True)) == ["doc-0.pdf", "doc-1.pdf"]
    left = sorted(message["subject"] for message in m365.control.mail_messages(MAILBOX))
    # POP3 deletes at QUIT, which a failed poll never sends: its messages all stay, the records say what was done.
    assert left == ([f"doc {n}" for n in range(6)] if protocol == "pop3" else [f"doc {n}" for n in range(2, 6)])

    monkeypatch.setattr(polling, "print_jobs_create", batch_writes)
    MailJobSource.objects.filter(pk=source.pk).update(next_attempt_at=timezone.now())
    with TestCase.captureOnCommitCallbacks(execute=True):
        # POP3 finds the two recorded messages again and only deletes them.
        assert mail_source_poll(source_id=source.pk).processed == (6 if protocol == "pop3" else 4)
    assert PrintJob.objects.filter(owner=sender).count() == 6
    assert m365.control.mail_messages(MAILBOX) == []


def _stored_files() -> set[str]:
    root = Path(settings.MEDIA_ROOT)
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}


@pytest.mark.parametrize("failure", ["refused", "database lost"])
def test_a_batch_rolled_back_after_its_documents_were_stored_leaves_no_file_behind(
    m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any, sender: Any, failure: str, monkeypatch: Any
) -> None:
    """A batch's documents are stored before its jobs' INSERT, so no job ever names a missing file; when the
    transaction then rolls back (here the records' INSERT fails), they are removed with it: every stored file is a
    job's. Refused, the batch is written again a message at a time; the database lost, the poll ends and the mail
    stays for the next one."""
    from mail_jobs.services import polling

    source = configure_source(tenant_a, admin_a, exchange_system=exchange_system)
    records_write = polling._records_write

    def failing(source: Any, decisions: list[Any]) -> Any:
        if failure == "database lost":
            raise OperationalError("the server closed the connection unexpectedly")
        if len(decisions) > 1:
            raise IntegrityError("duplicate key value violates unique constraint")
        return records_write(source, decisions)

    monkeypatch.setattr(polling, "_records_write", failing)
    if failure == "refused":
        _poll_costs(m365, source, 3, Counter())
        jobs = PrintJob.objects.filter(owner=sender)
        assert sorted(job.title for job in jobs) == ["doc-0.pdf", "doc-1.pdf", "doc-2.pdf"]
        assert _stored_files() == {job.document.name for job in jobs}
        assert all(job.document.read() == PDF for job in jobs)
        assert m365.control.mail_messages(MAILBOX) == []
        return
    for n in range(3):
        attachments = [(f"doc-{n}.pdf", "application/pdf", PDF)]
        m365.control.put_mail(MAILBOX, mail_with_attachments(sender=SENDER, to=MAILBOX, attachments=attachments))
    with pytest.raises(OperationalError):
        mail_source_poll(source_id=source.pk)
    assert not PrintJob.objects.exists() and _stored_files() == set()
    assert len(m365.control.mail_messages(MAILBOX)) == 3


def test_the_batch_read_is_parsed_while_the_server_deletes_the_batch_before(monkeypatch: Any) -> None:
    """The server's longest part of a batch is deleting (a file a message on Dovecot): the deletion of the batch
    that committed is sent after the next batch is read, and that batch is parsed before its answers are read."""
    from mail_jobs.services import polling

    calls: list[str] = []
    committed = [(MessageRef(key="1:1", size=10, uid="1"), 7)]
    ahead = [MessageRef(key="1:2", size=10, uid="2")]

    class Box:
        def fetch_many(self, refs: Any, *, max_bytes: int, budget: int) -> FetchedBatch:
            calls.append(f"read {[ref.uid for ref in refs]}")
            return FetchedBatch({ref.key: FetchedMessage(bytearray(b"x"), True) for ref in refs}, [])

        def delete_many_sent(self, refs: Any) -> Any:
            calls.append(f"delete sent {[ref.uid for ref in refs]}")
            return lambda: calls.append("delete answers read")

    def parsed(raw: bytes, complete: bool) -> Any:
        calls.append("parse")
        return ValueError("not a message")

    monkeypatch.setattr(polling, "_parsed", parsed)
    source = SimpleNamespace(
        max_message_bytes=MB, after_processing=AfterProcessing.DELETE, mail_server=SimpleNamespace(protocol="imap")
    )
    reads, deferred = polling._clean_up_and_read(source, Box(), committed, ahead)  # type: ignore[arg-type]

    assert calls == ["read ['2']", "delete sent ['1']", "parse", "delete answers read"]
    assert [read[0] for read in reads] == ahead and deferred == []
