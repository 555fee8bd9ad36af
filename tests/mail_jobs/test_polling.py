"""The poller against the emulator's Dovecot with real imaplib/poplib: mail becomes print jobs of the sender."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import TestCase
from django.utils import timezone

from accounts.models import User
from background.claims import work_claim
from mail_jobs.choices import Outcome
from mail_jobs.models import MailJobSource, ProcessedMessage
from mail_jobs.services import mail_source_poll, mail_sources_polled
from mail_servers.choices import ServerStatus
from print_jobs.models import PrintJob
from tests.factories import UserFactory
from tests.mail_jobs.conftest import MAILBOX, SENDER, SHARED_MAILBOX, configure_source, connect_exchange_system
from tests.mail_jobs.helpers import PDF, PNG, mail_with_attachments

pytestmark = [pytest.mark.emulator, pytest.mark.usefixtures("mail_jobs_settings")]
BOTH = pytest.mark.parametrize("protocol", ["imap", "pop3"])


def _mail(
    m365: Any,
    *,
    to: str = MAILBOX,
    sender: str = SENDER,
    subject: str = "Print this",
    attachments: list[tuple[str, str, bytes]] | None = None,
    **kwargs: Any,
) -> None:
    files = (
        attachments
        if attachments is not None
        else [("report.pdf", "application/pdf", PDF), ("photo.png", "image/png", PNG)]
    )
    m365.control.put_mail(to, mail_with_attachments(sender=sender, to=to, subject=subject, attachments=files, **kwargs))


def _poll(source: Any) -> str:
    """A poll, as the sweep queues it once the source's interval is up."""
    MailJobSource.objects.filter(pk=source.pk).update(next_attempt_at=timezone.now())
    with TestCase.captureOnCommitCallbacks(execute=True):  # replies are sent once the message's jobs commit
        return mail_source_poll(source_id=source.pk).status


@BOTH
def test_a_pdf_and_an_image_become_jobs_of_the_sender_once(
    m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any, sender: Any, protocol: str, client: Any
) -> None:
    source = configure_source(tenant_a, admin_a, protocol=protocol, exchange_system=exchange_system)
    _mail(m365)
    assert _poll(source) == ServerStatus.OK
    jobs = PrintJob.objects.filter(owner=sender).order_by("title")
    assert [(j.title, j.content_type, j.source) for j in jobs] == [
        ("photo.png", "image/png", "email"),
        ("report.pdf", "application/pdf", "email"),
    ]
    assert jobs[1].document.read() == PDF
    key = ProcessedMessage.objects.get().message_key
    scheme = "imap" if protocol == "imap" else "pop"
    assert key.startswith(f"{scheme}://admin%40contoso.onmicrosoft.com@")  # the server and mailbox it came from
    assert all(j.source_key.startswith(f"{source.pk}:") for j in jobs)
    assert len({j.source_key.rsplit(":", 1)[0] for j in jobs}) == 1  # one message, a job per part
    assert m365.control.mail_messages(MAILBOX) == []  # deleted after the jobs committed
    assert _poll(source) == ServerStatus.OK
    assert PrintJob.objects.count() == 2
    client.force_login(sender)
    page = client.get("/jobs/").content.decode()
    assert "report.pdf" in page and "photo.png" in page


def test_mark_read_keeps_the_message_and_never_prints_it_twice(
    m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any, sender: Any
) -> None:
    source = configure_source(tenant_a, admin_a, exchange_system=exchange_system, after_processing="mark_read")
    _mail(m365)
    _poll(source)
    [message] = m365.control.mail_messages(MAILBOX)
    assert "\\Seen" in message["flags"]
    _poll(source)
    assert PrintJob.objects.count() == 2


def test_a_message_already_processed_is_only_cleaned_up(
    m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any, sender: Any
) -> None:
    """As after a crash between the commit and the delete: the record exists, the message is still there."""
    from mail_jobs.services.polling import _process_message
    from mail_servers.connections import mailbox_connection
    from microsoft.mailbox import open_mailbox

    source = configure_source(tenant_a, admin_a, exchange_system=exchange_system, document_types=["pdf"])
    _mail(m365)
    connection = mailbox_connection(source.mail_server)
    with open_mailbox(connection.server, connection.login()) as mailbox:
        [ref] = mailbox.messages()
        with TestCase.captureOnCommitCallbacks(execute=True):  # committed; then a "crash" before the clean-up
            _process_message(source, mailbox, ref)
    assert PrintJob.objects.count() == 1 and len(m365.control.mail_messages(MAILBOX)) == 1
    assert len(mail.outbox) == 1  # the PNG was refused and the sender told
    _poll(source)
    assert PrintJob.objects.count() == 1 and ProcessedMessage.objects.count() == 1
    assert m365.control.mail_messages(MAILBOX) == [] and len(mail.outbox) == 1


def test_processed_mail_can_be_moved_to_a_folder(
    m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any, sender: Any
) -> None:
    m365.control.create_mail_folder(MAILBOX, "Printed")
    source = configure_source(
        tenant_a, admin_a, exchange_system=exchange_system, after_processing="move", move_to_folder="Printed"
    )
    _mail(m365)
    _poll(source)
    assert [m["folder"] for m in m365.control.mail_messages(MAILBOX)] == ["Printed"]
    assert PrintJob.objects.count() == 2


@BOTH
def test_an_oversized_message_is_rejected_and_the_sender_told(
    m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any, sender: Any, protocol: str
) -> None:
    source = configure_source(
        tenant_a, admin_a, protocol=protocol, exchange_system=exchange_system, max_message_size_mb=1
    )
    _mail(m365, subject="Huge", attachments=[("big.pdf", "application/pdf", PDF + b"0" * 1_200_000)])
    _poll(source)
    assert PrintJob.objects.count() == 0
    record = ProcessedMessage.objects.get()
    assert record.outcome == Outcome.REJECTED and "up to 1 MB" in record.reasons[0]
    [reply] = mail.outbox
    assert reply.to == [SENDER] and "Huge" in reply.subject and "up to 1 MB" in reply.body
    assert m365.control.mail_messages(MAILBOX) == []


def test_a_disallowed_attachment_is_refused_and_the_rest_printed(
    m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any, sender: Any
) -> None:
    source = configure_source(tenant_a, admin_a, exchange_system=exchange_system, document_types=["pdf"])
    _mail(
        m365,
        attachments=[
            ("report.pdf", "application/pdf", PDF),
            ("photo.png", "image/png", PNG),
            ("tool.exe", "application/octet-stream", b"MZ"),
        ],
    )
    _poll(source)
    assert list(PrintJob.objects.values_list("title", flat=True)) == ["report.pdf"]
    record = ProcessedMessage.objects.get()
    assert record.outcome == Outcome.PARTLY and len(record.reasons) == 2
    assert "photo.png" in mail.outbox[0].body and "tool.exe" in mail.outbox[0].body


def test_the_body_is_printed_when_asked(
    m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any, sender: Any
) -> None:
    source = configure_source(tenant_a, admin_a, exchange_system=exchange_system, print_body=True)
    _mail(m365, subject="Notes", body="Please print these notes.", attachments=[])
    _poll(source)
    job = PrintJob.objects.get()
    assert job.title == "Notes.txt" and job.document.read() == b"Please print these notes."


def test_an_unknown_sender_is_rejected_with_the_reason(
    m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any
) -> None:
    source = configure_source(tenant_a, admin_a, exchange_system=exchange_system, unknown_senders="register")
    _mail(m365, sender="stranger@elsewhere.example")
    _poll(source)  # the tenant does not allow self-registration, so "register" falls back to rejecting
    assert PrintJob.objects.count() == 0 and not User.objects.filter(email="stranger@elsewhere.example").exists()
    assert "not a user of" in ProcessedMessage.objects.get().reasons[0]
    assert mail.outbox[0].to == ["stranger@elsewhere.example"]


def test_an_unknown_sender_is_registered_when_the_tenant_allows_it(
    m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any
) -> None:
    tenant_a.allow_self_registration_by_email = True
    tenant_a.save()
    source = configure_source(tenant_a, admin_a, exchange_system=exchange_system, unknown_senders="register")
    _mail(m365, sender="New.Person@Elsewhere.example")
    _poll(source)
    user = User.objects.get(email="new.person@elsewhere.example")
    assert user.tenant == tenant_a and PrintJob.objects.filter(owner=user).count() == 2
    assert not mail.outbox


def test_an_alias_finds_the_sender_and_auto_replies_are_never_answered(
    m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any, sender: Any
) -> None:
    from accounts.models import EmailAlias

    EmailAlias.objects.create(user=sender, email="pat.alias@alpha.example")
    source = configure_source(tenant_a, admin_a, exchange_system=exchange_system)
    _mail(m365, sender="pat.alias@alpha.example")
    _mail(m365, sender="robot@elsewhere.example", subject="Out of office", attachments=[])
    _poll(source)
    assert PrintJob.objects.filter(owner=sender).count() == 2
    mail.outbox.clear()
    m365.control.put_mail(
        MAILBOX, b"From: robot@elsewhere.example\r\nAuto-Submitted: auto-replied\r\nSubject: Away\r\n\r\nI am away.\r\n"
    )
    _poll(source)
    assert not mail.outbox


@BOTH
def test_a_shared_mailbox_is_read_with_the_connected_account(
    m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any, sender: Any, protocol: str
) -> None:
    source = configure_source(
        tenant_a, admin_a, protocol=protocol, exchange_system=exchange_system, shared_mailbox=SHARED_MAILBOX
    )
    _mail(m365, to=SHARED_MAILBOX)
    assert _poll(source) == ServerStatus.OK
    assert PrintJob.objects.filter(owner=sender).count() == 2


def test_a_mailbox_the_account_cannot_open_fails_with_the_fix(
    m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any
) -> None:
    source = configure_source(
        tenant_a, admin_a, exchange_system=exchange_system, shared_mailbox="adele.vance@contoso.onmicrosoft.com"
    )
    assert _poll(source) == ServerStatus.NEEDS_ACTION
    source.refresh_from_db()
    assert "Full Access" in source.mail_server.status_reason


@BOTH
def test_a_custom_server_with_a_password(m365: Any, tenant_a: Any, admin_a: Any, sender: Any, protocol: str) -> None:
    m365.control.set_mail_password("print@custom.test", "Custom-Pass-1")
    port = m365.mail["imap_port" if protocol == "imap" else "pop3_port"]
    source = configure_source(
        tenant_a,
        admin_a,
        protocol=protocol,
        kind="custom",
        host="127.0.0.1",
        port=port,
        security="starttls",
        username="print@custom.test",
        password="Custom-Pass-1",
    )
    _mail(m365, to="print@custom.test")
    assert _poll(source) == ServerStatus.OK
    assert PrintJob.objects.filter(owner=sender).count() == 2


def test_a_token_that_needs_reconnecting_stops_polling_until_reconnected(
    m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any, sender: Any
) -> None:
    from credentials.models import MicrosoftCredential
    from credentials.services import credential_refresh
    from tests.mail_jobs.helpers import EXCHANGE_APP

    source = configure_source(tenant_a, admin_a, exchange_system=exchange_system)
    m365.control.revoke_grant(MAILBOX, EXCHANGE_APP)
    credential = MicrosoftCredential.objects.get(owner_id=exchange_system.pk)
    credential_refresh(credential_id=credential.pk, force=True)
    _mail(m365)
    assert _poll(source) == ServerStatus.NEEDS_ACTION
    source.refresh_from_db()
    assert source.is_paused and source.mail_server.status_reason and source.mail_server.fix_url
    assert len(m365.control.mail_messages(MAILBOX)) == 1 and PrintJob.objects.count() == 0

    connect_exchange_system(tenant=tenant_a, actor=admin_a, m365=m365, system=exchange_system)
    assert _poll(source) == ServerStatus.OK
    source.refresh_from_db()
    assert not source.is_paused and PrintJob.objects.filter(owner=sender).count() == 2


def test_two_polls_never_overlap(m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any) -> None:
    source = configure_source(tenant_a, admin_a, exchange_system=exchange_system)
    assert work_claim(mail_sources_polled(), source.pk, lease=timedelta(minutes=5)) is not None  # a poll runs

    assert mail_source_poll(source_id=source.pk).status == "skipped"


def test_a_poll_is_due_again_one_interval_later_and_failures_are_counted(
    m365: Any, tenant_a: Any, admin_a: Any
) -> None:
    source = configure_source(tenant_a, admin_a, kind="custom", host="", protocol="imap")

    assert _poll(source) == ServerStatus.NEEDS_ACTION  # a setting is missing
    source.refresh_from_db()
    assert source.attempts == 1 and source.lease_until is None
    assert timedelta(minutes=4) < source.next_attempt_at - timezone.now() <= timedelta(minutes=5)
    assert mail_source_poll(source_id=source.pk).status == "skipped", "not due before its interval"


def test_other_users_of_the_same_address_in_another_tenant_never_get_the_job(
    m365: Any, tenant_a: Any, tenant_b: Any, admin_a: Any, exchange_system: Any
) -> None:
    other = UserFactory(tenant=tenant_b, email=SENDER)
    source = configure_source(tenant_a, admin_a, exchange_system=exchange_system)
    _mail(m365)
    _poll(source)
    assert not PrintJob.objects.filter(owner=other).exists()
    assert ProcessedMessage.objects.get().outcome == Outcome.REJECTED


def test_check_for_mail_now_polls_a_source_whose_interval_is_not_up(
    m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any, sender: Any, admin_a_client: Any, monkeypatch: Any
) -> None:
    from mail_jobs import tasks

    source = configure_source(tenant_a, admin_a, exchange_system=exchange_system)
    assert _poll(source) == ServerStatus.OK  # polled: the next poll is an interval away
    _mail(m365)
    queued: list[Any] = []
    monkeypatch.setattr(tasks.mail_source_poll_task, "apply_async", lambda args, **kw: queued.append(args))

    with TestCase.captureOnCommitCallbacks(execute=True):
        admin_a_client.post("/settings/jobs/email/poll/")
    assert queued == [(source.pk,)]
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert mail_source_poll(source_id=source.pk).status == ServerStatus.OK  # the task's body

    assert PrintJob.objects.filter(owner=sender).count() == 2
