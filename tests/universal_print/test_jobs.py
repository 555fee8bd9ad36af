"""Jobs sent to a printer Roger takes: the print job of the person who printed, the task completed, once."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from print_jobs.models import PrintJob
from tests.conftest import wait_until
from tests.ui.live_race import element, followed, work_after_read
from universal_print.choices import JobOutcome, PollStatus, TaskStatus
from universal_print.models import Connection, ReceivedJob
from universal_print.services.connections import connection_wake
from universal_print.services.jobs import received_job_take
from universal_print.services.ticks import connection_tick

from .conftest import ADELE, CONTOSO, PDF, SECURE_PRINT, take_jobs, tick

pytestmark = [pytest.mark.emulator, pytest.mark.django_db]


def emulator_job(m365, job_id: str) -> dict:
    return m365.control.print_job(CONTOSO, SECURE_PRINT, job_id)


def test_a_job_becomes_a_print_job_of_the_person_who_printed(m365, taking, adele, user_a):
    submitted = m365.control.submit_print_job(CONTOSO, "Secure Print (Follow-Me)", ADELE, PDF, name="Budget.pdf")
    assert emulator_job(m365, submitted["id"])["status"]["state"] == "paused"

    tick(taking)
    assert take_jobs() == ["held"]

    [job] = PrintJob.objects.all()
    assert job.owner == adele and job.title == "Budget.pdf" and job.document.read() == PDF
    assert job.source == "universal_print" and job.source_label == "Secure Print (Follow-Me)"
    assert job.queue is not None and job.queue.name == "Follow-Me"
    assert job.source_key == f"{CONTOSO}:{SECURE_PRINT}:{submitted['id']}:{submitted['documents'][0]['id']}"
    received = ReceivedJob.objects.get()
    assert (received.outcome, received.task_status, received.print_job) == (JobOutcome.HELD, TaskStatus.COMPLETED, job)
    # Universal Print moves on: the task is completed with Roger's words, the (virtual) printer's job is done.
    state = emulator_job(m365, submitted["id"])
    assert state["status"]["state"] == "completed"
    assert state["tasks"][0]["status"] == {"state": "completed", "description": "Held in Roger for release"}
    # Another user of the Roger tenant does not get it.
    assert not PrintJob.objects.filter(owner=user_a).exists()


def test_a_second_poll_and_a_redelivered_task_make_no_second_job(m365, taking, adele):
    submitted = m365.control.submit_print_job(CONTOSO, SECURE_PRINT, ADELE, PDF)
    # The task's completion fails once: the task is still open at the next poll.
    tick(taking)
    m365.control.inject_fault("graph", status=503, skip=2, count=1)  # job, $value, then the PATCH of the task
    assert take_jobs() == ["retrying"]
    assert ReceivedJob.objects.get().outcome == JobOutcome.HELD
    assert emulator_job(m365, submitted["id"])["tasks"][0]["status"]["state"] == "processing"

    tick(taking)  # the same task again, from a second poll
    ReceivedJob.objects.update(next_attempt_at=ReceivedJob.objects.get().next_attempt_at)
    tick(taking)
    ReceivedJob.objects.update(next_attempt_at=None)  # as if its own retry was lost: the poll hands it over
    tick(taking)
    assert take_jobs() == ["held"]
    # Once it is done, a duplicate message of its task finds nothing to do.
    assert received_job_take(job_id=ReceivedJob.objects.get().pk) == "skipped"

    assert PrintJob.objects.count() == 1 and ReceivedJob.objects.count() == 1
    assert len(m365.control.requests_received("print_download")) == 1
    assert emulator_job(m365, submitted["id"])["status"]["state"] == "completed"


def test_an_unknown_persons_job_is_aborted_with_the_reason(m365, taking, tenant_a):
    submitted = m365.control.submit_print_job(CONTOSO, SECURE_PRINT, "alex.wilber@contoso.onmicrosoft.com", PDF)

    tick(taking)
    assert take_jobs() == ["aborted"]

    received = ReceivedJob.objects.get()
    assert received.outcome == JobOutcome.ABORTED and received.task_status == TaskStatus.ABORTED
    assert "not a user of Alpha Print's print service" in received.reason
    state = emulator_job(m365, submitted["id"])["status"]
    assert state["state"] == "aborted" and state["description"] == received.reason  # what Windows shows
    assert not PrintJob.objects.exists()
    assert AuditEvent.objects.filter(action="universal_print.job_aborted", details__reason=received.reason).exists()


def test_a_deactivated_persons_job_is_aborted(m365, taking, adele):
    adele.is_active = False
    adele.save()
    m365.control.submit_print_job(CONTOSO, SECURE_PRINT, ADELE, PDF)

    tick(taking)
    take_jobs()

    assert "deactivated" in ReceivedJob.objects.get().reason and not PrintJob.objects.exists()


def test_a_document_type_roger_does_not_print_is_aborted(m365, taking, adele):
    submitted = m365.control.submit_print_job(
        CONTOSO, SECURE_PRINT, ADELE, b"MZ\x90\x00", name="setup.exe", content_type="application/x-msdownload"
    )

    tick(taking)
    take_jobs()

    received = ReceivedJob.objects.get()
    assert received.outcome == JobOutcome.ABORTED and "application/x-msdownload" in received.reason
    assert emulator_job(m365, submitted["id"])["status"]["state"] == "aborted"
    assert not m365.control.requests_received("print_download")  # refused before anything was downloaded


def test_a_document_over_the_limit_is_aborted_and_never_kept(m365, taking, adele, settings):
    settings.UNIVERSAL_PRINT_MAX_DOCUMENT_MB = 1
    m365.control.submit_print_job(CONTOSO, SECURE_PRINT, ADELE, b"%PDF-1.7\n" + b"0" * (1024 * 1024 + 1))

    tick(taking)
    take_jobs()

    received = ReceivedJob.objects.get()
    assert received.outcome == JobOutcome.ABORTED and "larger than 1 MB" in received.reason
    assert not PrintJob.objects.exists()


def test_microsofts_retry_after_is_honoured(m365, taking, adele):
    m365.control.submit_print_job(CONTOSO, SECURE_PRINT, ADELE, PDF)
    m365.control.clear_requests()
    m365.control.inject_fault("graph", status=429, retry_after=3)

    assert tick(taking) == PollStatus.THROTTLED
    connection = Connection.objects.get(pk=taking.pk)
    assert connection.poll_status == PollStatus.THROTTLED and connection.next_attempt_at == connection.throttled_until

    # Neither the sweep's next look nor Check now calls Microsoft before Retry-After.
    assert connection_tick(connection_id=connection.pk) == "skipped"
    connection_wake(connection)
    assert connection_tick(connection_id=connection.pk) == "skipped"
    wait_until(
        lambda: connection_tick(connection_id=connection.pk) == PollStatus.OK,
        timeout=15,
        interval=0.5,
        message="the poll after Retry-After",
    )
    assert take_jobs() == ["held"]

    requests = m365.control.requests_received("graph")
    throttled = next(r for r in requests if r["status"] == 429)
    later = [r for r in requests if r["at"] > throttled["at"]]
    assert later and min(r["at"] for r in later) >= throttled["at"] + 3
    assert PrintJob.objects.count() == 1


def test_the_job_is_on_the_persons_jobs_page_marked_with_the_printer(m365, taking, adele, client):
    m365.control.submit_print_job(CONTOSO, SECURE_PRINT, ADELE, PDF, name="Minutes.pdf")
    tick(taking)
    take_jobs()

    client.force_login(adele)
    page = client.get(reverse("print_jobs:list")).content.decode()

    assert "Minutes.pdf" in page and "Universal Print" in page and "Secure Print (Follow-Me)" in page


def _poll_url(html: str, connection: Connection) -> str | None:
    import re

    found = re.search(rf'id="status-{connection.pk}" hx-get="([^"]+)" hx-trigger="every', html)
    return found.group(1).replace("&amp;", "&") if found else None


def test_check_now_is_followed_until_the_new_job_shows(m365, taking, adele, admin_a_client):
    """The admin presses Check now and watches: the status polls while the look is due and while jobs are being
    received, and each change tells the printers and jobs part of the page to read itself again."""
    m365.control.submit_print_job(CONTOSO, SECURE_PRINT, ADELE, PDF, name="Budget.pdf")
    Connection.objects.filter(pk=taking.pk).update(next_attempt_at=None)  # the minute's look was done
    page = reverse("universal_print:page")
    assert _poll_url(admin_a_client.get(page).content.decode(), taking) is None, "nothing under way: no polling"

    checking = admin_a_client.post(reverse("universal_print:check_now", args=[taking.pk]), follow=True)
    url = _poll_url(checking.content.decode(), taking)
    assert url is not None and admin_a_client.get(url).status_code == 204  # the look has not happened yet

    tick(taking)
    looked = admin_a_client.get(url)
    assert looked.status_code == 200 and looked["HX-Trigger"] == "universal-print-changed"
    url = _poll_url(looked.content.decode(), taking)
    assert url is not None, "the job is being received: still followed"

    take_jobs()
    done = admin_a_client.get(url)
    assert done.status_code == 286 and done["HX-Trigger"] == "universal-print-changed"
    refreshed = admin_a_client.get(page).content.decode()
    printers_and_jobs = refreshed.split('id="printers-of-1"', 1)[1].split("</section>", 1)[0]
    assert "Budget.pdf" in printers_and_jobs and "Held in Roger for release" in printers_and_jobs


@pytest.mark.parametrize("reads", [1, 2, 3, 4, 5, 6])
def test_a_job_received_while_the_page_is_read_never_leaves_it_receiving_for_good(
    m365, taking, adele, admin_a_client, reads
):
    """The job's worker can commit between any two of the page's reads of the jobs. Whatever the page showed
    then, once its status polled (and told the printers and jobs part to read itself again) it shows the job held
    and the status stops. (The jobs were shown, then read again to decide whether to follow them: a job received
    in between was shown "Receiving", with nothing followed, until a reload.)"""
    m365.control.submit_print_job(CONTOSO, SECURE_PRINT, ADELE, PDF, name="Budget.pdf")
    tick(taking)  # the minute's look hands the job over: next look in a minute
    assert ReceivedJob.objects.get().outcome == JobOutcome.RECEIVING

    page = reverse("universal_print:page")
    with work_after_read(('"universal_print_receivedjob"',), reads, take_jobs) as ran:
        first = admin_a_client.get(page)
    if not ran:
        take_jobs()  # the job was received after the page was read
    assert ReceivedJob.objects.get().outcome == JobOutcome.HELD
    assert first.status_code == 200

    _, polling, answer = followed(admin_a_client, first.content.decode(), f"status-{taking.pk}")
    shown = first.content.decode()
    if answer is not None and answer.status_code != 204 and answer.get("HX-Trigger") == "universal-print-changed":
        shown = admin_a_client.get(page, headers={"HX-Request": "true"}).content.decode()
    printers_and_jobs, _ = element(shown, "printers-of-1")
    assert "Budget.pdf" in printers_and_jobs and "Held in Roger for release" in printers_and_jobs
    assert "Receiving" not in printers_and_jobs
    assert not polling
