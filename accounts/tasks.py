from __future__ import annotations

from celery import shared_task


@shared_task(name="accounts.admin_notification_send", autoretry_for=(OSError,), retry_backoff=30, max_retries=8)
def admin_notification_send(notification_id: int) -> None:
    from accounts.services import admin_notification_send as send

    send(notification_id=notification_id)
