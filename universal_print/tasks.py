"""Celery tasks of Universal Print: thin, by id, calling a service (queued with background.kinds.work_queue)."""

from __future__ import annotations

from celery import shared_task

from universal_print.services.jobs import received_job_take
from universal_print.services.ticks import connection_tick


@shared_task(name="universal_print.connection_tick")
def connection_tick_task(connection_id: int) -> str:
    """Apply a Printer Administrator's sign-in, read the pending tasks, check the printers daily."""
    return connection_tick(connection_id=connection_id)


@shared_task(name="universal_print.take_job")
def received_job_task(job_id: int) -> str:
    """Take one job: the print job of the person who printed, then its task completed (or the job aborted)."""
    return received_job_take(job_id=job_id)
