"""Writes of outgoing mail: the tenant's server settings, queuing messages, the test email.

How the portal's own mail flows: code calls `accounts.mail.tenant_mail_send(tenant=..., ...)` (or Django's
`send_mail`, for mail that belongs to no tenant); the email backend `outgoing_mail.backends.QueuedEmailBackend`
stores each message as an `OutboundEmail` and a Celery task delivers it (`outgoing_mail.delivery`).
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from background.kinds import work_queue
from mail_servers.choices import DEFAULT_PORTS, Protocol, Security
from mail_servers.services import MailServerValues, mail_server_owner_get_or_create, mail_server_save
from outgoing_mail.choices import OutboundPurpose
from outgoing_mail.models import OutboundEmail, OutgoingMailSettings
from throttling.services import scope_limits, throttle_take

if TYPE_CHECKING:
    from accounts.models import Tenant, User

__all__ = [
    "OutgoingMailChange",
    "outbound_email_queue",
    "outgoing_mail_settings_get_or_create",
    "outgoing_mail_settings_save",
    "test_email_send",
]

logger = logging.getLogger(__name__)

DEFAULT_SMTP_PORT = DEFAULT_PORTS[(Protocol.SMTP, Security.STARTTLS)]


@dataclass(frozen=True)
class OutgoingMailChange:
    """What the Network form submits: Roger's server or the tenant's own, the tenant's SMTP server (its password
    None to keep the saved one), and the sender."""

    use_own_server: bool
    server: MailServerValues
    from_address: str = ""
    from_name: str = ""


_AUDITED_FIELDS = ("use_own_server", "from_address", "from_name")


def outgoing_mail_settings_get_or_create(*, tenant: Tenant) -> OutgoingMailSettings:
    """The tenant's settings, created with Roger's server chosen and an Exchange Online SMTP server to pick."""
    return mail_server_owner_get_or_create(
        OutgoingMailSettings, tenant=tenant, protocol=Protocol.SMTP, security=Security.STARTTLS, port=DEFAULT_SMTP_PORT
    )


@transaction.atomic
def outgoing_mail_settings_save(*, tenant: Tenant, actor: User, change: OutgoingMailChange) -> OutgoingMailSettings:
    """Save the tenant's outgoing SMTP server and record what changed (never the password itself; where a saved
    password may still go: mail_servers.services.mail_server_save)."""
    if change.server.protocol != Protocol.SMTP:
        raise ValueError("The outgoing mail server speaks SMTP.")
    created = not OutgoingMailSettings.objects.filter(tenant=tenant).exists()
    settings_id = outgoing_mail_settings_get_or_create(tenant=tenant).pk
    current = OutgoingMailSettings.objects.select_for_update().select_related("mail_server").get(pk=settings_id)
    values = {
        "use_own_server": change.use_own_server,
        "from_address": change.from_address.strip().lower(),
        "from_name": change.from_name.strip(),
    }
    changed = {name: value for name, value in values.items() if getattr(current, name) != value}
    for name, value in changed.items():
        setattr(current, name, value)
    changed.update(mail_server_save(account=current.mail_server, values=change.server).changed)
    current.updated_by = actor
    current.save()
    if created or changed:
        audit_record(
            tenant=tenant,
            actor=actor,
            action="outgoing_mail.settings_changed",
            target=current,
            details={"mode": current.mode, "changed": changed},
        )
    return current


def outbound_email_queue(
    *,
    tenant: Tenant | None,
    message: EmailMessage,
    purpose: str = OutboundPurpose.MAIL,
    requested_by: User | None = None,
) -> OutboundEmail:
    """Store one message and queue its delivery after the surrounding transaction commits."""
    from outgoing_mail.tasks import (  # the tasks module imports this one
        outbound_emails_send_in_turns,
        test_email_send_task,
    )

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
    # The row is the outbox: a lost task is queued again by the sweep. A test email is sent at once on the
    # interactive queue (an admin watches); other mail is taken in batches, tenants in turns.
    if purpose == OutboundPurpose.TEST:
        work_queue(test_email_send_task, outbound.pk)
    else:
        work_queue(outbound_emails_send_in_turns)
    return outbound


def test_email_send(*, tenant: Tenant, actor: User, recipient: str, client: str | None = None) -> OutboundEmail:
    """Queue a test email through the tenant's saved server; the Network page shows how it went.

    Raises `Throttled`, queuing nothing, past the test email limits (per recipient, tenant and `client`, the
    address the caller counts: given explicitly, so that no limit depends on a request context being there).
    """
    with transaction.atomic():
        throttle_take(limits=scope_limits("test_email", address=recipient, tenant=tenant.name, client=client))
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
        )
    return outbound
