"""The import's background work (thin: fetch by id, call the service)."""

from __future__ import annotations

from celery import shared_task

from background.kinds import work_status
from users_admin.imports import import_work


@shared_task(name="users_admin.user_import")
def user_import_task(import_id: int) -> str | None:
    """Check (preview) or apply an uploaded user file."""
    return work_status(lambda: import_work(import_id=import_id))
