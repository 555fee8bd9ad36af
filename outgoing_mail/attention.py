"""Dashboard "Needs attention": the tenant's outgoing server could not send portal mail."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from django.urls import reverse

from health import Health
from mail_servers.selectors import mail_server_health
from outgoing_mail.models import OutgoingMailSettings

if TYPE_CHECKING:
    from accounts.models import Tenant


def outgoing_mail_attention(tenant: Tenant) -> Iterable[Health]:
    """What the last message sent through the tenant's own server showed (mail_servers: one status)."""
    current = OutgoingMailSettings.objects.select_related("mail_server").filter(tenant=tenant).first()
    if current is None or not current.use_own_server:
        return []
    health = mail_server_health(current.mail_server)
    reason = f"Your outgoing SMTP server could not send Roger's mail: {health.reason}"[:400]
    health = replace(health, reason=reason)
    if not health.fix_url:
        health = replace(health, fix_url=reverse("outgoing_mail:network"), fix_label="Open Network settings")
    return [health.about("Outgoing SMTP server")]
