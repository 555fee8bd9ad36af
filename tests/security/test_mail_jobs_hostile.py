"""Jobs via Email against hostile mail: one message never stops a mailbox, and no message can make the worker hold
more of it than the size limit, whatever the server claims.

Real sockets throughout: the emulator's Exchange Online (Dovecot) with imaplib/poplib, and a mail server that lies
about sizes (`lying_mail_server`).
"""

from __future__ import annotations

import re
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.test import TestCase

from mail_jobs.choices import Outcome
from mail_jobs.models import ProcessedMessage
from mail_jobs.services import mail_source_poll
from mail_servers.choices import ServerStatus
from microsoft.mail_connection import Security
from microsoft.mailbox import MailLogin, MailProtocol, MailServer, open_mailbox
from print_jobs.models import PrintJob
from tests.mail_jobs import conftest as mail_jobs_fixtures
from tests.mail_jobs.conftest import MAILBOX, SENDER, configure_source
from tests.mail_jobs.helpers import PDF, mail_with_attachments
from tests.security.lying_mail_server import LyingMailServer

pytestmark = [pytest.mark.emulator, pytest.mark.usefixtures("mail_jobs_settings")]
# The Jobs via Email fixtures: a connected Exchange Online system, a sender who is a user of tenant A, settings.
exchange_system = mail_jobs_fixtures.exchange_system
sender = mail_jobs_fixtures.sender
mail_jobs_settings = mail_jobs_fixtures.mail_jobs_settings
MB = 1024 * 1024
LYING = "jobs@lying.test"
MARGIN = 256 * 1024  # what a read may hold beyond the limit: one read chunk, a growing buffer's slack

# A name that is only dots, a path out of the media folder, a name longer than a file system allows (120
# four-byte characters: 480 bytes), and a right-to-left override that would show "invoiceexe.pdf".
HOSTILE_NAMES = ["..", "../../etc/passwd", "\U00020000" * 120 + ".pdf", "invoice\u202efdp.exe"]


def _put(m365: Any, *, subject: str, attachments: list[tuple[str, str, bytes]], to: str = MAILBOX) -> None:
    m365.control.put_mail(to, mail_with_attachments(sender=SENDER, to=to, subject=subject, attachments=attachments))


def _poll(source: Any) -> str:
    with TestCase.captureOnCommitCallbacks(execute=True):
        return mail_source_poll(source_id=source.pk).status


def _nested(depth: int) -> bytes:
    """A message whose multiparts nest deeper than any mail program writes (Python's parser gives up)."""
    head = f"From: {SENDER}\r\nTo: {MAILBOX}\r\nSubject: Broken\r\nMIME-Version: 1.0\r\n".encode()
    opening = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (n, n) for n in range(depth))
    leaf = b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="a.pdf"\r\n\r\n%PDF-1.4\r\n'
    closing = b"".join(b"--b%d--\r\n" % n for n in reversed(range(depth)))
    return head + opening + leaf + closing


def test_hostile_attachment_names_never_name_a_file_and_the_next_message_still_prints(
    m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any, sender: Any, settings: Any
) -> None:
    source = configure_source(tenant_a, admin_a, exchange_system=exchange_system, document_types=["pdf"])
    for number, name in enumerate(HOSTILE_NAMES):
        _put(m365, subject=f"Hostile {number}", attachments=[(name, "application/pdf", PDF)])
    _put(m365, subject="Normal", attachments=[("report.pdf", "application/pdf", PDF)])

    assert _poll(source) == ServerStatus.OK

    assert PrintJob.objects.filter(owner=sender, title="report.pdf").exists()
    assert ProcessedMessage.objects.count() == len(HOSTILE_NAMES) + 1
    assert m365.control.mail_messages(MAILBOX) == []
    jobs_folder = Path(settings.MEDIA_ROOT).resolve() / "jobs" / str(tenant_a.pk)
    for job in PrintJob.objects.all():
        stored = Path(job.document.path).resolve()
        assert stored.is_relative_to(jobs_folder) and re.fullmatch(r"[0-9a-f]{32}\.pdf", stored.name), stored
        assert stored.read_bytes() == PDF
        assert "/" not in job.title and "\u202e" not in job.title and 0 < len(job.title) <= 200
    titles = set(PrintJob.objects.values_list("title", flat=True))
    # Display text: the last path component, no control characters; a long name is fine where it is not a file's.
    assert {"passwd", "invoicefdp.exe", HOSTILE_NAMES[2], "report.pdf"} <= titles
    assert any(re.fullmatch(r"attachment-\d+", title) for title in titles)  # the name that was only dots


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_a_message_the_parser_cannot_take_apart_is_rejected_and_the_next_message_still_prints(
    m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any, sender: Any, protocol: str
) -> None:
    source = configure_source(tenant_a, admin_a, protocol=protocol, exchange_system=exchange_system)
    m365.control.put_mail(MAILBOX, _nested(2000))
    m365.control.put_mail(MAILBOX, f"From: <\r\nTo: {MAILBOX}\r\nSubject: No sender\r\n\r\nHello\r\n".encode())
    _put(m365, subject="Normal", attachments=[("report.pdf", "application/pdf", PDF)])

    assert _poll(source) == ServerStatus.OK

    assert list(PrintJob.objects.values_list("title", flat=True)) == ["report.pdf"]
    broken = ProcessedMessage.objects.get(subject="Broken")
    assert broken.outcome == Outcome.REJECTED and broken.sender == SENDER
    assert "could not be read" in broken.reasons[0]
    no_sender = ProcessedMessage.objects.get(subject="No sender")
    assert no_sender.outcome == Outcome.REJECTED and "no sender address" in no_sender.reasons[0]
    [reply] = mail.outbox  # the sender of the broken message is told; nobody can be told about the other
    assert reply.to == [SENDER] and "Broken" in reply.subject and "could not be read" in reply.body
    assert m365.control.mail_messages(MAILBOX) == []


# --- a server that under-reports sizes -------------------------------------------------------------------------


def _big_message(size: int) -> bytes:
    """A message carrying a PDF of about `size` bytes (base64: short lines, as mail programs write them)."""
    document = PDF + b"0" * size
    return mail_with_attachments(
        sender=SENDER, to=LYING, subject="Huge", attachments=[("big.pdf", "application/pdf", document)]
    )


@pytest.fixture
def lying_server(m365: Any, request: pytest.FixtureRequest) -> Any:
    protocol, honour_partial = request.param
    server = LyingMailServer(
        protocol, m365.state_dir / "server.pem", m365.state_dir / "server-key.pem", honour_partial=honour_partial
    )
    server.start()
    yield server
    server.stop()


LYING_SERVERS = pytest.mark.parametrize(
    "lying_server",
    [("imap", True), ("imap", False), ("pop3", False)],
    ids=["imap-partial-fetch", "imap-ignores-partial-fetch", "pop3"],
    indirect=True,
)


@LYING_SERVERS
def test_the_read_stops_at_the_limit_whatever_size_the_server_announced(m365: Any, lying_server: Any) -> None:
    lying_server.add(_big_message(20 * MB), claimed_size=900)
    server = MailServer(
        MailProtocol(lying_server.protocol), "127.0.0.1", lying_server.port, Security.SSL, str(m365.ca_path), 30
    )
    with open_mailbox(server, MailLogin(LYING, password="any")) as mailbox:
        [ref] = mailbox.messages()
        assert ref.size == 900  # the claim
        tracemalloc.start()
        try:
            fetched = mailbox.fetch(ref, max_bytes=MB)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert mailbox.messages()  # the session is still in step after the rest of the message was skipped
    assert not fetched.complete and len(fetched.data) == MB
    assert peak < MB + MARGIN, f"{peak / MB:.3f} MB held to read 1 MB of a 20 MB message"
    if lying_server.honour_partial:
        assert lying_server.bytes_sent[1] == MB + 1


@LYING_SERVERS
def test_a_batch_read_holds_its_budget_and_one_message_whatever_sizes_the_server_announced(
    m365: Any, lying_server: Any
) -> None:
    for _ in range(4):
        lying_server.add(_big_message(MB), claimed_size=900)
    server = MailServer(
        MailProtocol(lying_server.protocol), "127.0.0.1", lying_server.port, Security.SSL, str(m365.ca_path), 30
    )
    with open_mailbox(server, MailLogin(LYING, password="any")) as mailbox:
        refs = mailbox.messages()
        tracemalloc.start()
        try:
            batch = mailbox.fetch_many(refs, max_bytes=2 * MB, budget=MB)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert list(batch.messages) == [refs[0].key] and batch.messages[refs[0].key].complete
        assert batch.deferred == refs[1:]  # read past, to be read again
        later = mailbox.fetch_many(batch.deferred, max_bytes=2 * MB, budget=MB)  # the session is still in step
        assert list(later.messages) == [refs[1].key]
    assert peak < 2 * MB + MARGIN, f"{peak / MB:.3f} MB held by a batch with a budget of 1 MB"


@LYING_SERVERS
def test_an_oversize_message_whose_server_under_reports_its_size_is_refused_and_the_next_one_prints(
    m365: Any, tenant_a: Any, admin_a: Any, sender: Any, lying_server: Any
) -> None:
    lying_server.add(_big_message(5 * MB), claimed_size=900)
    lying_server.add(
        mail_with_attachments(sender=SENDER, to=LYING, attachments=[("a.pdf", "application/pdf", PDF)]),
        claimed_size=900,
    )
    source = configure_source(
        tenant_a,
        admin_a,
        protocol=lying_server.protocol,
        kind="custom",
        host="127.0.0.1",
        port=lying_server.port,
        security="ssl",
        username=LYING,
        password="any",
        max_message_size_mb=1,
    )

    assert _poll(source) == ServerStatus.OK

    huge = ProcessedMessage.objects.get(subject="Huge")
    assert huge.outcome == Outcome.REJECTED and "larger than 1 MB" in huge.reasons[0]
    assert list(PrintJob.objects.filter(owner=sender).values_list("title", flat=True)) == ["a.pdf"]
    [reply] = mail.outbox
    assert reply.to == [SENDER] and "larger than 1 MB" in reply.body
    assert sorted(lying_server.deleted) == [1, 2]
