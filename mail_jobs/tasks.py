"""Celery tasks of Jobs via Email: thin, by id, calling a service."""

from __future__ import annotations

from celery import shared_task

from mail_jobs.services import mail_source_poll


@shared_task(name="mail_jobs.poll_source")
def mail_source_poll_task(source_id: int) -> str:
    """Poll one source whose interval is up (queued by the sweep); a source another poll holds is skipped."""
    return mail_source_poll(source_id=source_id).status
