"""Writes of outgoing mail: the tenant's server settings, queuing messages, the test email.

How the portal's own mail flows: code calls `tenant_mail_send(tenant=..., ...)` (or Django's `send_mail`, for
mail that belongs to no tenant); the email backend `outgoing_mail.backends.QueuedEmailBackend` stores each message
as an `OutboundEmail` and a Celery task delivers it (`outgoing_mail.delivery`).
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from background.kinds import work_queue
from microsoft.mail_connection import host_key
from outgoing_mail.choices import OutboundPurpose, OutgoingMode, SmtpSecurity
from outgoing_mail.models import OutboundEmail, OutgoingMailSettings
from throttling.services import scope_limits, throttle_take

if TYPE_CHECKING:
    from accounts.models import Tenant, User
    from external_systems.models import ExternalSystem

__all__ = [
    "TENANT_HEADER",
    "OutgoingMailChange",
    "outbound_email_queue",
    "outgoing_mail_settings_save",
    "smtp_server_changed",
    "tenant_mail_send",
    "test_email_send",
]

logger = logging.getLogger(__name__)

# Set by tenant_mail_send on the messages it builds; the queued backend reads and removes it.
TENANT_HEADER = "X-Roger-Tenant"


@dataclass(frozen=True)
class OutgoingMailChange:
    """What the Network form submits. `custom_password` None keeps the saved password."""

    mode: str
    exchange_system: ExternalSystem | None = None
    send_as_mailbox: str = ""
    custom_host: str = ""
    custom_port: int = 587
    custom_security: str = SmtpSecurity.STARTTLS
    custom_username: str = ""
    custom_password: str | None = None
    from_address: str = ""
    from_name: str = ""


_AUDITED_FIELDS = (
    "mode",
    "exchange_system_id",
    "send_as_mailbox",
    "custom_host",
    "custom_port",
    "custom_security",
    "custom_username",
    "from_address",
    "from_name",
)


def smtp_server_changed(current: OutgoingMailSettings, *, host: str, port: int | None, username: str) -> bool:
    """Whether the saved password would now go to another server or user than it was entered for."""
    before = (host_key(current.custom_host), current.custom_port, current.custom_username.strip())
    return before != (host_key(host), port, username.strip())


@transaction.atomic
def outgoing_mail_settings_save(
    *, tenant: Tenant, actor: User, change: OutgoingMailChange, ip_address: str | None = None
) -> OutgoingMailSettings:
    """Save the tenant's outgoing SMTP server and record what changed (never the password itself).

    A saved password is dropped when the host, port or user name changes without a new one: it is only ever
    sent where it was entered for."""
    if change.exchange_system is not None and change.exchange_system.tenant_id != tenant.pk:
        raise ValueError("The Exchange Online system belongs to another tenant.")
    current, created = OutgoingMailSettings.objects.select_for_update().get_or_create(tenant=tenant)
    before = {name: getattr(current, name) for name in _AUDITED_FIELDS}
    server_changed = smtp_server_changed(
        current, host=change.custom_host, port=change.custom_port, username=change.custom_username
    )
    current.mode = change.mode
    current.exchange_system = change.exchange_system if change.mode == OutgoingMode.EXCHANGE else None
    current.send_as_mailbox = change.send_as_mailbox.strip().lower() if change.mode == OutgoingMode.EXCHANGE else ""
    current.custom_host = change.custom_host.strip()
    current.custom_port = change.custom_port
    current.custom_security = change.custom_security
    current.custom_username = change.custom_username.strip()
    password_changed = change.custom_password is not None and change.custom_password != current.custom_password
    if change.custom_password is not None:
        current.custom_password = change.custom_password
    elif server_changed and current.custom_password:
        password_changed, current.custom_password = True, ""
    if not current.custom_username:
        password_changed = password_changed or bool(current.custom_password)
        current.custom_password = ""
    current.from_address = change.from_address.strip().lower()
    current.from_name = change.from_name.strip()
    current.updated_by = actor
    current.save()
    changed = [name for name in _AUDITED_FIELDS if getattr(current, name) != before[name]]
    if password_changed:
        changed.append("custom_password")
    if created or changed:
        audit_record(
            tenant=tenant,
            actor=actor,
            action="outgoing_mail.settings_changed",
            target=current,
            details={
                "mode": current.mode,
                "changed": changed,
                **{name: getattr(current, name) for name in changed if name != "custom_password"},
            },
            ip_address=ip_address,
        )
    return current


def tenant_mail_send(
    *,
    tenant: Tenant,
    subject: str,
    body: str,
    to: list[str],
    html_body: str | None = None,
    reply_to: list[str] | None = None,
) -> int:
    """Send mail of `tenant` through its configured server (Settings > Network), queued and rate limited.

    The From address is the tenant's (its sending mailbox); returns the number of messages handed over (1).
    """
    message = EmailMultiAlternatives(
        subject=subject, body=body, to=to, reply_to=reply_to, headers={TENANT_HEADER: str(tenant.pk)}
    )
    if html_body:
        message.attach_alternative(html_body, "text/html")
    return message.send()


def outbound_email_queue(
    *,
    tenant: Tenant | None,
    message: EmailMessage,
    purpose: str = OutboundPurpose.MAIL,
    requested_by: User | None = None,
) -> OutboundEmail:
    """Store one message and queue its delivery after the surrounding transaction commits."""
    from outgoing_mail.tasks import outbound_email_send

    data = message.message().as_bytes(linesep="\r\n")
    outbound = OutboundEmail.objects.create(
        tenant=tenant,
        purpose=purpose,
        subject=str(message.subject)[:300],
        from_email=message.from_email,
        recipients=list(message.recipients()),
        message=base64.b64encode(data).decode(),
        requested_by=requested_by,
        next_attempt_at=timezone.now(),
    )
    logger.info("Queued outbound email %s (%s) for tenant %s", outbound.pk, purpose, tenant.pk if tenant else "-")
    work_queue(outbound_email_send, outbound.pk)  # the row is the outbox: a lost task is queued again
    return outbound


def test_email_send(*, tenant: Tenant, actor: User, recipient: str, ip_address: str | None = None) -> OutboundEmail:
    """Queue a test email through the tenant's saved server; the Network page shows how it went.

    Raises `Throttled`, queuing nothing, past the test email limits (per recipient, tenant and client).
    """
    with transaction.atomic():
        throttle_take(limits=scope_limits("test_email", address=recipient, tenant=tenant.name, client=ip_address))
        message = EmailMessage(
            subject=f"Roger test email for {tenant.display_name}",
            body=(
                f"This is a test email from Roger, sent by {actor.email} to check the outgoing SMTP server "
                f"configured for {tenant.display_name} in Settings > Network.\n\nIf you can read this, it works.\n"
            ),
            to=[recipient],
        )
        outbound = outbound_email_queue(
            tenant=tenant, message=message, purpose=OutboundPurpose.TEST, requested_by=actor
        )
        audit_record(
            tenant=tenant,
            actor=actor,
            action="outgoing_mail.test_email_requested",
            target=outbound,
            details={"recipient": recipient},
            ip_address=ip_address,
        )
    return outbound
