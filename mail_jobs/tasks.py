"""Celery tasks of Jobs via Email: thin, by id, calling a service."""

from __future__ import annotations

from celery import shared_task
from celery.app.task import Task


@shared_task(name="mail_jobs.poll_due")
def mail_jobs_poll_due() -> int:
    """Beat, every minute: one poll task per enabled source whose interval is up."""
    from mail_jobs.services import mail_sources_poll_due

    due = mail_sources_poll_due()
    for source_id in due:
        mail_source_poll_task.delay(source_id)
    return len(due)


@shared_task(bind=True, name="mail_jobs.poll_source", max_retries=30)
def mail_source_poll_task(self: Task, source_id: int) -> str:
    from mail_jobs.models import MailJobSource
    from mail_jobs.services import mail_source_poll

    if not MailJobSource.objects.filter(pk=source_id).exists():
        return "gone"
    result = mail_source_poll(source_id=source_id)
    if result.status == "busy":  # another poll holds the mailbox, or a dead one's lease has not run out yet
        raise self.retry(countdown=result.retry_in)
    return result.status


@shared_task(name="mail_jobs.test_connection")
def mail_source_test_task(source_id: int) -> None:
    from mail_jobs.services import mail_source_test_run

    mail_source_test_run(source_id=source_id)
