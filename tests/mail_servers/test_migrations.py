"""The upgrade that moves each page's mail server into an account of its own, from the schema before it, with
real rows: nothing a tenant configured is lost, and mail left in a mailbox is not printed again.

The rows are written with the models as they were (MigrationExecutor), the mail waits in the emulator's mailboxes
as a crash left it (mark-as-read: processed and committed, not flagged yet; POP3: processed, not deleted before
QUIT), and the migrated portal polls it.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import TestCase
from django.utils import timezone

from mail_jobs.models import MailJobSource, ProcessedMessage
from mail_jobs.services import mail_source_poll
from mail_servers.choices import ServerStatus
from microsoft.mail_connection import Security
from microsoft.mailbox import MailLogin, MailProtocol, MailServer, exchange_server, open_mailbox
from outgoing_mail.delivery import outbound_email_deliver
from outgoing_mail.models import OutgoingMailSettings
from outgoing_mail.services import test_email_send as queue_test_email
from print_jobs.models import PrintJob
from print_jobs.services import print_job_create
from tests.factories import TenantFactory, UserFactory
from tests.mail_jobs import conftest as mail_jobs_fixtures
from tests.mail_jobs.conftest import SENDER, SHARED_MAILBOX
from tests.mail_jobs.helpers import PDF, mail_with_attachments, outlook_token
from tests.outgoing_mail.conftest import RELAY_ACCOUNT, RELAY_PASSWORD

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.django_db(transaction=True),  # schema changes between rows: each step commits, as in an upgrade
    pytest.mark.usefixtures("mail_jobs_settings"),
]
exchange_system = mail_jobs_fixtures.exchange_system
mail_jobs_settings = mail_jobs_fixtures.mail_jobs_settings

BEFORE = [("mail_jobs", "0004_polls_are_claimed")]
CUSTOM_MAILBOX, CUSTOM_PASSWORD = "print@custom.test", "Custom-Pass-1"


def _migrate(targets: list[tuple[str, str]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _latest() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _kept_in_the_mailbox(m365: Any, server: MailServer, login: MailLogin, mailbox: str, subject: str) -> str:
    """A message the previous version processed and left in the mailbox; returns the key it stored it under."""
    raw = mail_with_attachments(
        sender=SENDER, to=mailbox, subject=subject, attachments=[(f"{subject}.pdf", "application/pdf", PDF)]
    )
    m365.control.put_mail(mailbox, raw)
    with open_mailbox(server, login) as opened:
        [ref] = opened.messages()
    return ref.url


def _processed(old: Any, source: Any, key: str, owner: Any, subject: str) -> None:
    old.get_model("mail_jobs", "ProcessedMessage").objects.create(
        tenant_id=source.tenant_id, source_id=source.pk, message_key=key, sender=SENDER, outcome="printed"
    )
    print_job_create(
        owner=owner,
        source="email",
        source_key=f"{source.pk}:{subject}:1",
        title=f"{subject}.pdf",
        content=PDF,
        content_type="application/pdf",
    )


def _poll(source_id: int) -> str:
    """A poll, as the sweep queues it once the source's interval is up."""
    MailJobSource.objects.filter(pk=source_id).update(next_attempt_at=timezone.now())
    with TestCase.captureOnCommitCallbacks(execute=True):
        return mail_source_poll(source_id=source_id).status


def test_jobs_via_email_keeps_its_servers_and_prints_nothing_twice(
    m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any
) -> None:
    # Tenant A reads a shared mailbox of its Exchange Online system over POP3; tenant C reads another server
    # over IMAP with a password, marking processed mail as read.
    tenant_c = TenantFactory(name="charlie")
    pat_a, pat_c = UserFactory(tenant=tenant_a, email=SENDER), UserFactory(tenant=tenant_c, email=SENDER)
    m365.control.set_mail_password(CUSTOM_MAILBOX, CUSTOM_PASSWORD)
    custom = MailServer(MailProtocol.IMAP, "127.0.0.1", m365.mail["imap_port"], Security.STARTTLS, str(m365.ca_path))
    custom_key = _kept_in_the_mailbox(
        m365, custom, MailLogin(CUSTOM_MAILBOX, password=CUSTOM_PASSWORD), CUSTOM_MAILBOX, "custom"
    )
    shared_login = MailLogin(SHARED_MAILBOX, access_token=outlook_token(m365, mail_jobs_fixtures.MAILBOX))
    shared_key = _kept_in_the_mailbox(m365, exchange_server(MailProtocol.POP3), shared_login, SHARED_MAILBOX, "shared")
    try:
        old = _migrate(BEFORE)
        sources = old.get_model("mail_jobs", "MailJobSource").objects
        exchange_source = sources.create(
            tenant_id=tenant_a.pk,
            enabled=True,
            protocol="pop3",
            server_kind="exchange",
            exchange_system_id=exchange_system.pk,
            shared_mailbox=SHARED_MAILBOX,
            last_poll_status="needs_reconnect",
            last_poll_error="Reconnect the mailbox.",
            fix_url="/settings/external-systems/1/",
        )
        custom_source = sources.create(
            tenant_id=tenant_c.pk,
            enabled=True,
            protocol="imap",
            server_kind="custom",
            custom_host="127.0.0.1",
            custom_port=m365.mail["imap_port"],
            custom_security="starttls",
            custom_username=CUSTOM_MAILBOX,
            custom_password=CUSTOM_PASSWORD,
            after_processing="mark_read",
            test_status="failed",
            test_steps=[{"name": "Sign-in", "ok": False, "detail": "Refused.", "fix_url": ""}],
        )
        _processed(old, exchange_source, shared_key, pat_a, "shared")
        _processed(old, custom_source, custom_key, pat_c, "custom")
    finally:
        _migrate(_latest())

    pop3 = MailJobSource.objects.select_related("mail_server").get(pk=exchange_source.pk).mail_server
    assert (pop3.tenant_id, pop3.kind, pop3.protocol) == (tenant_a.pk, "exchange", "pop3")
    assert (pop3.exchange_system_id, pop3.shared_mailbox) == (exchange_system.pk, SHARED_MAILBOX)
    assert (pop3.status, pop3.status_reason, pop3.fix_url) == (
        ServerStatus.NEEDS_ACTION,
        "Reconnect the mailbox.",
        "/settings/external-systems/1/",
    )
    imap = MailJobSource.objects.select_related("mail_server").get(pk=custom_source.pk).mail_server
    assert (imap.tenant_id, imap.kind, imap.protocol, imap.exchange_system_id) == (tenant_c.pk, "custom", "imap", None)
    assert (imap.host, imap.port, imap.security, imap.username) == (
        "127.0.0.1",
        m365.mail["imap_port"],
        "starttls",
        CUSTOM_MAILBOX,
    )
    assert imap.password == CUSTOM_PASSWORD  # decrypted and encrypted again with the same keys
    with connection.cursor() as cursor:
        cursor.execute("SELECT password FROM mail_servers_mailserveraccount WHERE id = %s", [imap.pk])
        assert CUSTOM_PASSWORD not in str(cursor.fetchone()[0])
    assert (imap.test_status, imap.test_steps[0]["detail"], imap.test_folders) == ("failed", "Refused.", ["INBOX"])

    assert _poll(exchange_source.pk) == ServerStatus.OK
    assert _poll(custom_source.pk) == ServerStatus.OK

    assert sorted(PrintJob.objects.values_list("title", flat=True)) == ["custom.pdf", "shared.pdf"]
    assert ProcessedMessage.objects.count() == 2
    assert m365.control.mail_messages(SHARED_MAILBOX) == []  # only the clean-up was redone
    [kept] = m365.control.mail_messages(CUSTOM_MAILBOX)
    assert "\\Seen" in kept["flags"]


OUTGOING_BEFORE = [("outgoing_mail", "0004_deliveries_are_claimed")]


def test_the_network_settings_keep_their_servers_and_still_send(
    m365: Any, tenant_a: Any, tenant_b: Any, admin_a: Any, exchange_system: Any, settings: Any
) -> None:
    # Tenant A sends through Exchange Online as a shared mailbox, tenant B through a relay with a password, and
    # tenant C uses Roger's server but once typed a relay, kept for when it is chosen again.
    settings.CUSTOM_MAIL_CA_BUNDLE = str(m365.ca_path)
    tenant_c = TenantFactory(name="charlie")
    try:
        old = _migrate(OUTGOING_BEFORE)
        rows = old.get_model("outgoing_mail", "OutgoingMailSettings").objects
        exchange = rows.create(
            tenant_id=tenant_a.pk,
            mode="exchange",
            exchange_system_id=exchange_system.pk,
            send_as_mailbox=SHARED_MAILBOX,
            from_name="Alpha Print",
        )
        relay = rows.create(
            tenant_id=tenant_b.pk,
            mode="custom",
            custom_host=m365.smtp_host,
            custom_port=m365.smtp_port,
            custom_security="starttls",
            custom_username=RELAY_ACCOUNT,
            custom_password=RELAY_PASSWORD,
            from_address=RELAY_ACCOUNT,
        )
        kept = rows.create(tenant_id=tenant_c.pk, mode="default", custom_host="smtp.charlie.example", custom_port=25)
    finally:
        _migrate(_latest())

    migrated = {row.pk: row for row in OutgoingMailSettings.objects.select_related("mail_server")}
    a, b, c = migrated[exchange.pk], migrated[relay.pk], migrated[kept.pk]
    assert (a.mode, a.mail_server.protocol, a.from_name) == ("exchange", "smtp", "Alpha Print")
    assert (a.mail_server.exchange_system_id, a.mail_server.shared_mailbox) == (exchange_system.pk, SHARED_MAILBOX)
    assert (b.mode, b.from_address) == ("custom", RELAY_ACCOUNT)
    assert (b.mail_server.host, b.mail_server.port, b.mail_server.security, b.mail_server.username) == (
        m365.smtp_host,
        m365.smtp_port,
        "starttls",
        RELAY_ACCOUNT,
    )
    assert b.mail_server.password == RELAY_PASSWORD
    assert (c.mode, c.use_own_server, c.mail_server.kind) == ("default", False, "custom")
    assert (c.mail_server.host, c.mail_server.port) == ("smtp.charlie.example", 25)
    assert {row.mail_server.tenant_id for row in migrated.values()} == {tenant_a.pk, tenant_b.pk, tenant_c.pk}

    admin_b = UserFactory(tenant=tenant_b, role="admin")
    outbound = queue_test_email(tenant=tenant_b, actor=admin_b, recipient="someone@example.net")
    outbound_email_deliver(outbound_id=outbound.pk)
    outbound.refresh_from_db()
    assert outbound.status == "sent", outbound.last_error
    [received] = m365.control.smtp_messages(to="someone@example.net")
    assert received["mailbox"] == RELAY_ACCOUNT
