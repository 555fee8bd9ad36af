"""Writes of notifications: tell a tenant's admins about a problem once, and forget it when it is fixed."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from accounts.mail import tenant_mail_send
from accounts.selectors import tenant_admins
from notifications.models import AdminNotification

if TYPE_CHECKING:
    from accounts.models import Tenant

__all__ = ["admins_notification_clear", "admins_notify"]


def admins_notify(*, tenant: Tenant, key: str, subject: str, body: str, to: list[str] | None = None) -> bool:
    """Email the tenant's admins (or `to`: the people who can fix this problem, say the user whose own connection
    it is) about a problem, once per `key`. Returns False when already told.

    The email goes into the outgoing mail queue (an outbox of rows, see outgoing_mail) in the caller's
    transaction, together with the record that the admins were told: both are committed or neither, and
    the queue delivers it even if the broker was away at the commit. Clear the key with
    `admins_notification_clear` when the problem is fixed, so that a recurrence is told again.
    """
    with transaction.atomic():
        notification, _ = AdminNotification.objects.get_or_create(
            tenant=tenant, key=key, defaults={"subject": subject, "body": body}
        )
        # A row never marked sent was left by a release that queued its email only after the commit, and
        # lost it when the broker was away: it is sent now rather than silencing the problem for good.
        told = AdminNotification.objects.filter(pk=notification.pk, sent_at__isnull=True).update(sent_at=timezone.now())
        if told:
            _admins_email(notification, to)
    return bool(told)


def admins_notification_clear(*, tenant: Tenant, key: str | Collection[str]) -> None:
    """Forget the notification of one problem (or of several keys, in one query)."""
    keys = [key] if isinstance(key, str) else list(key)
    AdminNotification.objects.filter(tenant=tenant, key__in=keys).delete()


def _admins_email(notification: AdminNotification, to: list[str] | None) -> None:
    recipients = (
        to if to is not None else list(tenant_admins(tenant=notification.tenant).values_list("email", flat=True))
    )
    if recipients:
        # Through the tenant's own outgoing server (Settings > Network), queued and rate limited.
        tenant_mail_send(
            tenant=notification.tenant, subject=notification.subject, body=notification.body, to=recipients
        )
