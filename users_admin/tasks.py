"""The import's background work (thin: fetch by id, call the service)."""

from __future__ import annotations

from celery import shared_task

from users_admin.imports import import_work
from users_admin.models import UserImport


@shared_task(name="users_admin.user_import")
def user_import_task(import_id: int) -> str | None:
    """Check (preview) or apply an uploaded user file."""
    try:
        row = import_work(import_id=import_id)
    except UserImport.DoesNotExist:
        return None
    return row.status if row is not None else None
