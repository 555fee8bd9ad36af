""" "Test connection" is background work: one worker runs it, and a test whose task was lost is run anyway.

Against the emulator's Dovecot with a password (a custom server), on a real Celery worker on Redis.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import transaction
from django.utils import timezone

from background.claims import work_claim
from background.tasks import work_sweep_task
from mail_servers.choices import ConnectionTestStatus
from mail_servers.models import MailServerAccount
from mail_servers.services import mail_server_test_lease, mail_server_test_run, mail_server_test_start, running_tests
from mail_servers.tasks import mail_server_test_task
from tests.background.conftest import broker_unavailable
from tests.conftest import wait_until
from tests.factories import MailServerAccountFactory

pytestmark = [pytest.mark.emulator, pytest.mark.django_db(transaction=True)]

MAILBOX, PASSWORD = "print@custom.test", "Custom-Pass-1"


@pytest.fixture
def account(m365: Any, tenant_a: Any, settings: Any) -> MailServerAccount:
    settings.CUSTOM_MAIL_CA_BUNDLE = str(m365.ca_path)
    m365.control.set_mail_password(MAILBOX, PASSWORD)
    m365.control.create_mail_folder(MAILBOX, "Printed")
    return MailServerAccountFactory(
        tenant=tenant_a,
        protocol="imap",
        host="127.0.0.1",
        port=m365.mail["imap_port"],
        security="starttls",
        username=MAILBOX,
        password=PASSWORD,
    )


@pytest.fixture
def celery_worker_env(celery_worker_env: dict[str, str], m365: Any) -> dict[str, str]:
    return {**celery_worker_env, "CUSTOM_MAIL_CA_BUNDLE": str(m365.ca_path)}


def _finished(account: MailServerAccount) -> MailServerAccount:
    def done() -> MailServerAccount | None:
        account.refresh_from_db()
        return account if account.test_status != ConnectionTestStatus.RUNNING else None

    result: MailServerAccount = wait_until(done, timeout=30, message="the connection test")
    return result


def test_the_test_checks_the_server_the_sign_in_and_each_folder(account: MailServerAccount) -> None:
    with mock.patch.object(mail_server_test_task, "apply_async"):
        mail_server_test_start(account=account, folders=["INBOX", "Printed", "Archive"])
    steps = mail_server_test_run(account_id=account.pk)

    assert [(step["name"], step["ok"]) for step in steps] == [
        ("Server", True),
        ("Sign-in", True),
        ("Folder", True),
        ("Folder", False),
    ]
    assert f"Signed in as {MAILBOX} with a password" in steps[1]["detail"]
    assert "'Archive' does not exist" in steps[3]["detail"]
    account.refresh_from_db()
    assert account.test_status == ConnectionTestStatus.FAILED and account.next_attempt_at is None


def test_a_test_started_while_the_broker_was_away_is_run_by_the_sweep(
    account: MailServerAccount, celery_worker: Any, caplog: Any
) -> None:
    with broker_unavailable(), transaction.atomic():
        mail_server_test_start(account=account, folders=["INBOX", "Printed"])
    assert "the sweep will queue it" in caplog.text
    # The sweep leaves a test alone for a while, for the task its request queued; this one's never came.
    MailServerAccount.objects.filter(pk=account.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=1))

    work_sweep_task.delay()

    account = _finished(account)
    assert account.test_status == ConnectionTestStatus.OK, account.test_steps
    assert [step["name"] for step in account.test_steps] == ["Server", "Sign-in", "Folder"]  # "Printed" exists


def test_a_test_another_worker_holds_is_not_run_twice(account: MailServerAccount) -> None:
    with mock.patch.object(mail_server_test_task, "apply_async") as queued:
        mail_server_test_start(account=account)
    assert queued.call_args.args[0] == (account.pk,)
    claim = work_claim(running_tests(), account.pk, lease=mail_server_test_lease())
    assert claim is not None  # the first worker runs it

    mail_server_test_task(account.pk)  # a duplicate task, or the sweep's, meanwhile

    account.refresh_from_db()
    assert account.test_status == ConnectionTestStatus.RUNNING and account.test_steps == []
    mail_server_test_run(account_id=account.pk, claim=claim)
    account.refresh_from_db()
    assert account.test_status == ConnectionTestStatus.OK and account.lease_until is None


def test_only_a_mailbox_has_a_connection_test(tenant_a: Any) -> None:
    smtp = MailServerAccountFactory(tenant=tenant_a, protocol="smtp")
    with pytest.raises(ValueError, match="IMAP or POP3"):
        mail_server_test_start(account=smtp)
