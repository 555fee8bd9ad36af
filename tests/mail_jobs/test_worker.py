"""Jobs via Email with a real Celery worker on Redis: background test, beat polls, a worker killed mid-batch."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from background.kinds import work_sweep
from background.tasks import work_sweep_task
from mail_jobs.models import MailJobSource, ProcessedMessage
from mail_jobs.tasks import mail_source_poll_task
from print_jobs.models import PrintJob
from tests.conftest import WorkerProcess, wait_until
from tests.mail_jobs.conftest import MAILBOX, SENDER, configure_source
from tests.mail_jobs.helpers import PDF, mail_with_attachments

VISIBILITY_TIMEOUT = 5
pytestmark = [pytest.mark.emulator, pytest.mark.usefixtures("mail_jobs_settings")]


@pytest.fixture
def celery_worker_env(celery_worker_env: dict[str, str]) -> dict[str, str]:
    # Redis hands an unacknowledged task to another worker after this many seconds (the killed-worker test).
    return {**celery_worker_env, "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT)}


def _status_page(client: Client) -> str:
    return client.get("/settings/jobs/email/test/status/").content.decode()


def _finished_test(client: Client) -> str:
    def finished() -> str:
        page = _status_page(client)
        return "" if "Testing" in page else page

    result: str = wait_until(finished, message="the connection test")
    return result


def test_test_connection_runs_in_the_background_and_shows_each_step(
    celery_worker: WorkerProcess,
    m365: Any,
    tenant_a: Any,
    admin_a: Any,
    exchange_system: Any,
    admin_a_client: Client,
) -> None:
    configure_source(tenant_a, admin_a, exchange_system=exchange_system)
    response = admin_a_client.post("/settings/jobs/email/test/", HTTP_HX_REQUEST="true")
    assert "Testing the connection" in response.content.decode()
    page = _finished_test(admin_a_client)
    assert "The connection works" in page
    assert "Server" in page and "Sign-in" in page and MAILBOX in page and "INBOX" in page


def test_a_missing_folder_fails_the_test_with_the_reason(
    celery_worker: WorkerProcess,
    m365: Any,
    tenant_a: Any,
    admin_a: Any,
    exchange_system: Any,
    admin_a_client: Client,
) -> None:
    configure_source(tenant_a, admin_a, exchange_system=exchange_system, folder="Print queue")
    admin_a_client.post("/settings/jobs/email/test/")
    page = _finished_test(admin_a_client)
    assert "The connection test failed" in page and "Print queue" in page and "does not exist" in page


def test_the_beat_polls_due_sources(
    celery_worker: WorkerProcess, m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any, sender: Any
) -> None:
    configure_source(tenant_a, admin_a, exchange_system=exchange_system)
    m365.control.put_mail(
        MAILBOX, mail_with_attachments(sender=SENDER, to=MAILBOX, attachments=[("a.pdf", "application/pdf", PDF)])
    )
    work_sweep_task.delay()
    wait_until(lambda: PrintJob.objects.filter(owner=sender).exists(), message="the job")
    wait_until(lambda: MailJobSource.objects.get(tenant=tenant_a).lease_until is None, message="the poll's end")
    assert work_sweep()["mail_jobs.poll"] == 0  # not due again before its interval


def _lease_ran_out(source: MailJobSource) -> bool:
    source.refresh_from_db()
    return source.lease_until is None or source.lease_until < timezone.now()


def _children(pid: int) -> list[int]:
    result = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(line) for line in result.stdout.split()]


@pytest.mark.parametrize("crash", ["pool child", "whole worker"])
def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(
    celery_worker: WorkerProcess,
    celery_worker_env: dict[str, str],
    tmp_path: Any,
    m365: Any,
    tenant_a: Any,
    admin_a: Any,
    exchange_system: Any,
    sender: Any,
    crash: str,
) -> None:
    source = configure_source(tenant_a, admin_a, exchange_system=exchange_system)
    total = 30
    for n in range(total):
        document = PDF + os.urandom(150_000)  # big enough that a batch takes a while
        m365.control.put_mail(
            MAILBOX,
            mail_with_attachments(
                sender=SENDER,
                to=MAILBOX,
                subject=f"Document {n}",
                attachments=[(f"doc-{n:02}.pdf", "application/pdf", document)],
            ),
        )
    mail_source_poll_task.delay(source.pk)
    wait_until(lambda: PrintJob.objects.count() >= 3, interval=0.02, message="the batch to start")
    assert celery_worker.process is not None
    if crash == "pool child":
        for child in _children(celery_worker.process.pid):
            os.kill(child, signal.SIGKILL)
    else:
        celery_worker.kill()
    printed_at_crash = PrintJob.objects.count()
    assert printed_at_crash < total, "the batch finished before the crash; the test proves nothing"
    if crash == "whole worker":
        # Redis gives the unacknowledged task to a worker that starts after its visibility timeout has run out.
        killed_at = time.monotonic()
        wait_until(lambda: time.monotonic() - killed_at > VISIBILITY_TIMEOUT + 0.5, message="the visibility timeout")
        restarted = WorkerProcess(celery_worker_env, tmp_path / "worker-restarted.log")
        restarted.start()
        celery_worker.process = restarted.process  # the fixture stops it

    # The beat's sweep (every minute) takes the poll up again once the dead poll's lease has run out.
    wait_until(lambda: _lease_ran_out(source), timeout=30, message="the dead poll's lease to run out")
    work_sweep_task.delay()

    wait_until(lambda: ProcessedMessage.objects.count() == total, timeout=90, message="every message processed")
    wait_until(lambda: m365.control.mail_messages(MAILBOX) == [], timeout=30, message="the mailbox emptied")
    keys = list(PrintJob.objects.values_list("source_key", flat=True))
    assert len(keys) == len(set(keys)) == total
    assert sorted(PrintJob.objects.values_list("title", flat=True)) == [f"doc-{n:02}.pdf" for n in range(total)]
