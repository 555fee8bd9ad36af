"""Celery tasks of User Synchronization: thin, by id, calling a service (queued with background.kinds.work_queue)."""

from __future__ import annotations

from celery import shared_task

from user_sync.services.engine import run_step
from user_sync.services.pins import pin_emails_send
from user_sync.services.runs import automatic_sync_start


@shared_task(name="user_sync.run_step", ignore_result=True)
def run_step_task(run_id: int) -> str:
    """One page of a run (or its start or end)."""
    return run_step(run_id=run_id)


@shared_task(name="user_sync.automatic", ignore_result=True)
def automatic_sync_task(settings_id: int) -> str:
    """The daily automatic sync of a connector, when due."""
    return automatic_sync_start(settings_id=settings_id)


@shared_task(name="user_sync.pin_emails", ignore_result=True)
def pin_emails_task(run_id: int) -> int:
    """A batch of PIN emails to the users a sync created."""
    return pin_emails_send(run_id=run_id)
