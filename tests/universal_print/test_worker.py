"""Real Celery workers on the real broker: a worker killed between a job's download and its task's completion
leaves it to the next worker, which completes the task without a second print job or a second download."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from background.kinds import work_sweep
from print_jobs.models import PrintJob
from tests.conftest import WorkerProcess, wait_until
from universal_print.choices import JobOutcome, TaskStatus
from universal_print.models import Connection, ReceivedJob
from universal_print.services.connections import connection_wake

from .conftest import ADELE, CONTOSO, PDF, SECURE_PRINT

pytestmark = [pytest.mark.emulator, pytest.mark.django_db(transaction=True)]

LEASE_SECONDS = 3


def test_a_worker_killed_between_download_and_completion_finishes_the_job_once(
    m365, taking, adele, celery_worker_env, tmp_path, settings
):
    settings.UNIVERSAL_PRINT_LEASE_SECONDS = LEASE_SECONDS
    env = {**celery_worker_env, "UNIVERSAL_PRINT_LEASE_SECONDS": str(LEASE_SECONDS)}
    Connection.objects.filter(pk=taking.pk).update(printers_checked_at=timezone.now())
    submitted = m365.control.submit_print_job(CONTOSO, SECURE_PRINT, ADELE, PDF)
    # The poll's task list, the job and its $value go through; the task's completion hangs, then is lost.
    m365.control.clear_requests()
    m365.control.inject_fault("graph", latency_ms=30_000, drop=True, skip=3, count=1)
    first = WorkerProcess(env, tmp_path / "first.log")
    first.start()
    try:
        connection_wake(taking)  # Check now
        wait_until(
            lambda: ReceivedJob.objects.filter(outcome=JobOutcome.HELD).exists(),
            timeout=60,
            message="the job downloaded and held",
        )
        # Held: the print job is made; what is left is the task's completion, which the fault holds up.
    finally:
        first.kill()
    assert PrintJob.objects.count() == 1
    assert m365.control.print_job(CONTOSO, SECURE_PRINT, submitted["id"])["tasks"][0]["status"]["state"] == "processing"
    m365.control.clear_faults()

    second = WorkerProcess(env, tmp_path / "second.log")
    second.start()
    try:
        # The dead worker's lease runs out; the sweep (every minute in production) queues the job again. Its
        # minute of grace after the job fell due is left out: what is tested is that nothing is done twice.
        wait_until(
            lambda: (
                work_sweep(grace=timedelta(0)) is not None
                and ReceivedJob.objects.get().task_status == TaskStatus.COMPLETED
            ),
            timeout=60,
            interval=1,
            message="the job finished by the second worker",
        )
    finally:
        second.stop()

    assert PrintJob.objects.count() == 1 and PrintJob.objects.get().owner == adele
    assert len(m365.control.requests_received("print_download")) == 1
    state = m365.control.print_job(CONTOSO, SECURE_PRINT, submitted["id"])
    assert state["status"]["state"] == "completed" and state["tasks"][0]["status"]["state"] == "completed"
