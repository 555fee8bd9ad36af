"""Writes for tenants, users and the sign-in lockout."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.choices import Role
from accounts.models import AdminNotification, Tenant, User
from audit.services import audit_record
from throttling.clients import client_key
from throttling.rates import Rate
from throttling.services import Limit, throttle_forget, throttle_give_back, throttle_take


@transaction.atomic
def tenant_create(*, name: str, display_name: str, admin_email: str, admin_password: str) -> Tenant:
    """Create a Roger tenant with its first admin."""
    tenant = Tenant.objects.create(name=name.lower(), display_name=display_name or name)
    admin = User.objects.create_user(tenant=tenant, email=admin_email, password=admin_password, role=Role.ADMIN)
    audit_record(
        tenant=tenant, actor=None, action="tenant.created", target=tenant, details={"first_admin": admin.email}
    )
    return tenant


def sign_in_account(*, tenancy_name: str | None, username: str) -> str:
    """What the lockout counts failures of: a tenant account, or an operator of Django admin."""
    if tenancy_name is None:
        return f"operator/{username.strip()}"
    return f"tenant/{tenancy_name.strip().lower()}/{username.strip().lower()}"


@dataclass(frozen=True)
class SignInAttempt:
    account: str
    ip_address: str | None
    started_at: float


def sign_in_attempt_start(*, account: str, ip_address: str | None) -> SignInAttempt:
    """Count a password attempt as a failure before the password is checked, or raise `Throttled` when the account
    or the client is locked out. Counted first, so a burst of parallel guesses cannot all be checked before any of
    them counts; a good password takes it back (`sign_in_attempt_succeeded`)."""
    started_at = time.time()
    throttle_take(limits=_sign_in_limits(account=account, ip_address=ip_address), now=started_at)
    return SignInAttempt(account=account, ip_address=ip_address, started_at=started_at)


def sign_in_attempt_succeeded(*, attempt: SignInAttempt) -> None:
    """The password was right: the account's failures are forgotten, the client's count forgets this attempt
    (its other failures stay: it may be guessing other accounts)."""
    account_limit, *client_limit = _sign_in_limits(account=attempt.account, ip_address=attempt.ip_address)
    throttle_forget(keys=[account_limit.key])
    throttle_give_back(limits=client_limit, at=attempt.started_at)


def _sign_in_limits(*, account: str, ip_address: str | None) -> list[Limit]:
    window, lock = settings.LOGIN_FAILURE_WINDOW_SECONDS, settings.LOGIN_LOCKOUT_SECONDS
    limits = [Limit(f"sign_in:account:{account}", Rate(settings.LOGIN_FAILURE_LIMIT, window, lock))]
    client = client_key(ip_address)
    if client:
        limits.append(Limit(f"sign_in:client:{client}", Rate(settings.LOGIN_ADDRESS_FAILURE_LIMIT, window, lock)))
    return limits


def sign_in_success_record(*, user: User, ip_address: str | None) -> None:
    audit_record(tenant=user.tenant, actor=user, action="user.signed_in", target=user, ip_address=ip_address)


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


def admins_notification_clear(*, tenant: Tenant, key: str) -> None:
    AdminNotification.objects.filter(tenant=tenant, key=key).delete()


def _admins_email(notification: AdminNotification, to: list[str] | None) -> None:
    from accounts.selectors import tenant_admins
    from outgoing_mail.services import tenant_mail_send

    recipients = (
        to if to is not None else list(tenant_admins(tenant=notification.tenant).values_list("email", flat=True))
    )
    if recipients:
        # Through the tenant's own outgoing server (Settings > Network), queued and rate limited.
        tenant_mail_send(
            tenant=notification.tenant, subject=notification.subject, body=notification.body, to=recipients
        )
