"""Print from OneDrive against the emulator's Graph, with the user's token from a real sign-in: the jobs, their
keys, the download limit, and each Printed Job preference applied once."""

from __future__ import annotations

from typing import Any

import pytest

from audit.models import AuditEvent
from onedrive.choices import PrintedAction, PrintStatus
from onedrive.services.connection import preference_save
from onedrive.services.printing import print_work
from print_jobs.choices import JobSource, JobStatus
from print_jobs.services import print_job_release
from tests.onedrive.conftest import ADELE, due_now, item_id, printed

pytestmark = [pytest.mark.emulator, pytest.mark.django_db]

REPORT = "/Documents/Quarterly report.pdf"
TRAVEL = "/Documents/Travel policy.pdf"


def test_each_chosen_file_becomes_a_job_of_the_user_marked_onedrive(m365: Any, adele: Any, adele_client: Any) -> None:
    first, second = printed(adele, m365, ADELE[0], REPORT, TRAVEL)

    for row, path in ((first, REPORT), (second, TRAVEL)):
        job = row.job
        assert row.status == PrintStatus.READY and job is not None
        assert job.owner == adele and job.source == JobSource.ONEDRIVE and job.status == JobStatus.READY
        assert job.source_key == f"{row.request_key}:{row.item_id}" and row.item_id == item_id(m365, ADELE[0], path)
        assert job.document.open("rb").read()[:4] == b"%PDF" and job.size == job.document.size
        assert row.item_folder == "/Documents" and row.item_etag
    assert first.request_key == second.request_key
    assert AuditEvent.objects.filter(action="onedrive.print_requested").count() == 1


def test_the_same_file_printed_again_is_another_job_and_a_redelivered_fetch_makes_none(
    m365: Any, adele: Any, adele_client: Any
) -> None:
    (once,) = printed(adele, m365, ADELE[0], REPORT)
    (again,) = printed(adele, m365, ADELE[0], REPORT)
    due_now(once)
    type(once).objects.filter(pk=once.pk).update(status=PrintStatus.FETCHING)

    print_work(print_id=once.pk)  # the task delivered a second time

    assert once.job_id != again.job_id
    assert adele.print_jobs.count() == 2


def test_a_file_over_the_limit_is_refused_without_a_job(
    m365: Any, adele: Any, adele_client: Any, settings: Any
) -> None:
    settings.ONEDRIVE_PRINT_MAX_BYTES = 1000
    m365.control.onedrive_put_file(ADELE[0], "/Big.pdf", size=5000)

    (row,) = printed(adele, m365, ADELE[0], "/Big.pdf")

    assert row.status == PrintStatus.FAILED and "larger than" in row.result
    assert not adele.print_jobs.exists()


def _release(row: Any, user: Any) -> Any:
    assert print_job_release(job=row.job, actor=user)
    row.refresh_from_db()
    if row.status == PrintStatus.TIDYING:
        print_work(print_id=row.pk)
        row.refresh_from_db()
    return row


def test_delete_after_printing_deletes_the_printed_file_once(m365: Any, adele: Any, adele_client: Any) -> None:
    preference_save(user=adele, printed_action=PrintedAction.DELETE, scan_folder="/Scans")
    (row,) = printed(adele, m365, ADELE[0], REPORT)

    row = _release(row, adele)
    row.job.refresh_from_db()
    assert row.status == PrintStatus.DELETED and REPORT not in m365.control.onedrive_files(ADELE[0])
    assert row.job.status == JobStatus.PRINTED and "Deleted from OneDrive" in row.job.source_note
    # A worker that deleted the file but died before recording it: the task comes again.
    type(row).objects.filter(pk=row.pk).update(status=PrintStatus.TIDYING)
    due_now(row)
    print_work(print_id=row.pk)

    row.refresh_from_db()
    deletes = [r for r in m365.control.requests_received("graph") if r["method"] == "DELETE"]
    assert [r["status"] for r in deletes] == [204, 404], "the second found it gone: nothing else was deleted"
    assert row.status == PrintStatus.DELETED and row.result == "It was already gone from OneDrive."


def test_a_file_changed_since_it_was_printed_is_not_deleted(m365: Any, adele: Any, adele_client: Any) -> None:
    preference_save(user=adele, printed_action=PrintedAction.DELETE, scan_folder="/Scans")
    (row,) = printed(adele, m365, ADELE[0], REPORT)
    m365.control.onedrive_put_file(ADELE[0], REPORT, text="a newer version")

    row = _release(row, adele)

    assert row.status == PrintStatus.LEFT and "Changed in OneDrive" in row.result
    assert REPORT in m365.control.onedrive_files(ADELE[0])


def test_move_to_printed_makes_the_folder_and_moves_once(m365: Any, adele: Any, adele_client: Any) -> None:
    preference_save(user=adele, printed_action=PrintedAction.MOVE, scan_folder="/Scans")
    (row,) = printed(adele, m365, ADELE[0], REPORT)

    row = _release(row, adele)
    type(row).objects.filter(pk=row.pk).update(status=PrintStatus.TIDYING)
    due_now(row)
    print_work(print_id=row.pk)  # redelivered
    row.refresh_from_db()

    files = m365.control.onedrive_files(ADELE[0])
    assert row.status == PrintStatus.MOVED and row.result == "Moved to /Printed/Quarterly report.pdf."
    assert "/Printed/Quarterly report.pdf" in files and REPORT not in files
    assert not any(p.startswith("/Printed/Quarterly report ") for p in files)


def test_leave_it_leaves_the_file_without_calling_microsoft(m365: Any, adele: Any, adele_client: Any) -> None:
    (row,) = printed(adele, m365, ADELE[0], REPORT)
    m365.control.clear_requests()

    row = _release(row, adele)

    assert row.status == PrintStatus.LEFT and row.action == PrintedAction.LEAVE
    assert m365.control.requests_received("graph") == []
    assert REPORT in m365.control.onedrive_files(ADELE[0])


def test_a_throttled_graph_is_retried_at_its_retry_after(m365: Any, adele: Any, adele_client: Any) -> None:
    from django.utils import timezone

    m365.control.inject_fault("graph", status=429, retry_after=7)
    (row,) = printed(adele, m365, ADELE[0], REPORT)

    assert row.status == PrintStatus.FETCHING and row.attempts == 1 and "Retrying" in row.result
    wait = (row.next_attempt_at - timezone.now()).total_seconds()
    assert 5 < wait <= 7
    assert print_work(print_id=row.pk) is None, "not before Retry-After"
    due_now(row)
    print_work(print_id=row.pk)
    row.refresh_from_db()
    assert row.status == PrintStatus.READY
