"""Jobs via Email never takes new mail for mail already processed: a processed message is remembered by the server,
the account and the folder as well as by UIDVALIDITY+UID or UIDL, so switching mailbox or folder cannot make new
mail look processed (and get it deleted unprinted); keys stored before that are migrated, so mail left in a
mailbox before the upgrade is not printed again after it.

Two folders or mailboxes may well share a UIDVALIDITY (two servers, or Exchange's folders): the emulator gives
them the same one, so the first message of each has the same UID and the same UIDVALIDITY.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import TestCase

from mail_jobs.models import ProcessedMessage
from mail_jobs.services import mail_source_poll, mail_source_save
from mail_servers.choices import ServerStatus
from microsoft.mailbox import MailLogin, MailProtocol, exchange_server, mailbox_url, open_mailbox
from print_jobs.models import PrintJob
from print_jobs.services import print_job_create
from tests.mail_jobs import conftest as mail_jobs_fixtures
from tests.mail_jobs.conftest import MAILBOX, SENDER, SHARED_MAILBOX, configure_source, server_values
from tests.mail_jobs.helpers import PDF, mail_with_attachments, outlook_token

pytestmark = [pytest.mark.emulator, pytest.mark.usefixtures("mail_jobs_settings")]
exchange_system = mail_jobs_fixtures.exchange_system
sender = mail_jobs_fixtures.sender
mail_jobs_settings = mail_jobs_fixtures.mail_jobs_settings
SHARED_UIDVALIDITY = 4242


def _put(m365: Any, mailbox: str, subject: str, folder: str = "INBOX") -> None:
    raw = mail_with_attachments(
        sender=SENDER, to=mailbox, subject=subject, attachments=[(f"{subject}.pdf", "application/pdf", PDF)]
    )
    m365.control.put_mail(mailbox, raw, folder=folder)


def _poll(source: Any) -> str:
    with TestCase.captureOnCommitCallbacks(execute=True):
        return mail_source_poll(source_id=source.pk).status


def _printed() -> list[str]:
    return sorted(PrintJob.objects.values_list("title", flat=True))


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_new_mail_of_another_mailbox_is_printed_not_taken_for_processed(
    m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any, sender: Any, protocol: str
) -> None:
    for mailbox in (MAILBOX, SHARED_MAILBOX):
        m365.control.create_mail_folder(mailbox, "INBOX", uidvalidity=SHARED_UIDVALIDITY)
    source = configure_source(tenant_a, admin_a, protocol=protocol, exchange_system=exchange_system)
    _put(m365, MAILBOX, "first")
    assert _poll(source) == ServerStatus.OK and _printed() == ["first.pdf"]

    server = server_values(source.mail_server, shared_mailbox=SHARED_MAILBOX)
    mail_source_save(tenant=tenant_a, values={}, server=server)
    _put(m365, SHARED_MAILBOX, "second")  # UID 1 under the same UIDVALIDITY (POP3: the same UIDL)
    assert _poll(source) == ServerStatus.OK

    assert _printed() == ["first.pdf", "second.pdf"]
    assert m365.control.mail_messages(SHARED_MAILBOX) == []  # deleted after it was printed, not before
    assert ProcessedMessage.objects.count() == 2


def test_new_mail_of_another_folder_is_printed_not_taken_for_processed(
    m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any, sender: Any
) -> None:
    for folder in ("Print A", "Print B"):
        m365.control.create_mail_folder(MAILBOX, folder, uidvalidity=SHARED_UIDVALIDITY)
    source = configure_source(
        tenant_a, admin_a, exchange_system=exchange_system, folder="Print A", after_processing="mark_read"
    )
    _put(m365, MAILBOX, "first", folder="Print A")
    assert _poll(source) == ServerStatus.OK and _printed() == ["first.pdf"]

    mail_source_save(tenant=tenant_a, values={"folder": "Print B"})
    _put(m365, MAILBOX, "second", folder="Print B")
    assert _poll(source) == ServerStatus.OK

    assert _printed() == ["first.pdf", "second.pdf"]
    flags = {m["subject"]: m["flags"] for m in m365.control.mail_messages(MAILBOX)}
    assert "\\Seen" in flags["first"] and "\\Seen" in flags["second"]


# --- the upgrade -------------------------------------------------------------------------------------------------

OLD = [("mail_jobs", "0001_initial")]


def _migrate(targets: list[tuple[str, str]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _latest() -> list[tuple[str, str]]:
    return [key for key in MigrationExecutor(connection).loader.graph.leaf_nodes() if key[0] == "mail_jobs"]


@pytest.mark.django_db(transaction=True)  # schema changes between rows: each step commits, as in a real upgrade
@pytest.mark.parametrize(("protocol", "after_processing"), [("imap", "mark_read"), ("pop3", "delete")])
def test_mail_kept_in_the_mailbox_before_the_upgrade_is_not_printed_again_after_it(
    m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any, sender: Any, protocol: str, after_processing: str
) -> None:
    # As the previous version left it: a message processed and committed, still in the mailbox (mark-as-read
    # with a crash before the flag was set; POP3 with a crash before QUIT), under a key without the mailbox.
    _put(m365, MAILBOX, "kept")
    server = exchange_server(MailProtocol(protocol))
    with open_mailbox(server, MailLogin(MAILBOX, access_token=outlook_token(m365, MAILBOX))) as mailbox:
        [ref] = mailbox.messages()
    try:
        old = _migrate(OLD)
        source = old.get_model("mail_jobs", "MailJobSource").objects.create(
            tenant_id=tenant_a.pk,
            enabled=True,
            protocol=protocol,
            exchange_system_id=exchange_system.pk,
            after_processing=after_processing,
        )
        old_key = f"{protocol}:{source.pk}:{ref.key}"
        old.get_model("mail_jobs", "ProcessedMessage").objects.create(
            tenant_id=tenant_a.pk, source_id=source.pk, message_key=old_key, sender=SENDER, outcome="printed"
        )
        print_job_create(
            owner=sender,
            source="email",
            source_key=f"{old_key}:1",
            title="kept.pdf",
            content=PDF,
            content_type="application/pdf",
        )
    finally:
        _migrate(_latest())

    record = ProcessedMessage.objects.get()
    folder = ";UIDVALIDITY=" if protocol == "imap" else "/;UIDL="
    assert record.message_key == mailbox_url(server.protocol, server.host, server.port, MAILBOX) + folder + (
        ref.key.replace(":", "/;UID=") if protocol == "imap" else ref.key
    )
    assert _poll(source) == ServerStatus.OK
    assert _printed() == ["kept.pdf"] and ProcessedMessage.objects.count() == 1
    if protocol == "imap":
        [message] = m365.control.mail_messages(MAILBOX)
        assert "\\Seen" in message["flags"]  # only the clean-up was redone
    else:
        assert m365.control.mail_messages(MAILBOX) == []
