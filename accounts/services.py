"""Writes for tenants, users and sign-in throttling."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.choices import Role
from accounts.models import SignInFailure, Tenant, User
from audit.services import audit_record


@transaction.atomic
def tenant_create(*, name: str, display_name: str, admin_email: str, admin_password: str) -> Tenant:
    """Create a Roger tenant with its first admin."""
    tenant = Tenant.objects.create(name=name.lower(), display_name=display_name or name)
    admin = User.objects.create_user(tenant=tenant, email=admin_email, password=admin_password, role=Role.ADMIN)
    audit_record(
        tenant=tenant, actor=None, action="tenant.created", target=tenant, details={"first_admin": admin.email}
    )
    return tenant


@dataclass(frozen=True)
class Lockout:
    locked: bool
    until: datetime | None = None


def _window_start() -> datetime:
    return timezone.now() - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)


def sign_in_lockout(*, tenancy_name: str, email: str, ip_address: str | None) -> Lockout:
    """Whether this tenant+email, or this client address, is locked out right now."""
    now = timezone.now()
    lock = timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
    for failures, limit in (
        (
            SignInFailure.objects.filter(tenancy_name=tenancy_name.lower(), email=email.lower()),
            settings.LOGIN_FAILURE_LIMIT,
        ),
        (
            SignInFailure.objects.filter(ip_address=ip_address) if ip_address else SignInFailure.objects.none(),
            settings.LOGIN_ADDRESS_FAILURE_LIMIT,
        ),
    ):
        recent = list(
            failures.filter(failed_at__gte=now - lock - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS))
            .order_by("-failed_at")
            .values_list("failed_at", flat=True)
        )
        # Locked when `limit` failures fell inside one window and the lock since the last of them still runs.
        for index in range(len(recent) - limit + 1):
            newest, oldest = recent[index], recent[index + limit - 1]
            if newest - oldest <= timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS) and now < newest + lock:
                return Lockout(locked=True, until=newest + lock)
    return Lockout(locked=False)


def sign_in_failure_record(*, tenancy_name: str, email: str, ip_address: str | None) -> None:
    SignInFailure.objects.create(tenancy_name=tenancy_name.lower(), email=email.lower(), ip_address=ip_address)


def sign_in_failures_prune() -> int:
    """Forget failures that can no longer lock anybody out: older than a window plus a lock."""
    horizon = timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS + settings.LOGIN_LOCKOUT_SECONDS)
    deleted, _ = SignInFailure.objects.filter(failed_at__lt=timezone.now() - horizon).delete()
    return deleted


def sign_in_success_record(*, user: User, ip_address: str | None) -> None:
    SignInFailure.objects.filter(tenancy_name=user.tenant.name if user.tenant else "", email=user.email).delete()
    audit_record(tenant=user.tenant, actor=user, action="user.signed_in", target=user, ip_address=ip_address)


def admins_notify(*, tenant: Tenant, key: str, subject: str, body: str) -> bool:
    """Email the tenant's admins about a problem, once per `key`. Returns False when already told.

    The mail is sent by a Celery task after the surrounding transaction commits; clear the key with
    `admins_notification_clear` when the problem is fixed so a recurrence is told again.
    """
    from accounts.models import AdminNotification
    from accounts.tasks import admin_notification_send

    notification, created = AdminNotification.objects.get_or_create(
        tenant=tenant, key=key, defaults={"subject": subject, "body": body}
    )
    if created:
        transaction.on_commit(lambda: admin_notification_send.delay(notification.pk))
    return created


def admins_notification_clear(*, tenant: Tenant, key: str) -> None:
    from accounts.models import AdminNotification

    AdminNotification.objects.filter(tenant=tenant, key=key).delete()


def admin_notification_send(*, notification_id: int) -> None:
    from accounts.models import AdminNotification
    from accounts.selectors import tenant_admins
    from outgoing_mail.services import tenant_mail_send

    notification = AdminNotification.objects.filter(pk=notification_id, sent_at__isnull=True).first()
    if notification is None:
        return
    recipients = list(tenant_admins(tenant=notification.tenant).values_list("email", flat=True))
    if recipients:
        # Through the tenant's own outgoing server (Settings > Network), queued and rate limited.
        tenant_mail_send(
            tenant=notification.tenant, subject=notification.subject, body=notification.body, to=recipients
        )
    notification.sent_at = timezone.now()
    notification.save(update_fields=["sent_at"])
