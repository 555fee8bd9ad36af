"""Dashboard "Needs attention": the tenant's outgoing server failed to send portal mail recently."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

from django.urls import reverse
from django.utils import timezone

from health import Health
from outgoing_mail.choices import PENDING_STATUSES, OutboundPurpose
from outgoing_mail.models import OutboundEmail

if TYPE_CHECKING:
    from accounts.models import Tenant

RECENT = timedelta(days=7)


def outgoing_mail_attention(tenant: Tenant) -> Iterable[Health]:
    since = timezone.now() - RECENT
    latest = (
        OutboundEmail.objects.filter(tenant=tenant, purpose=OutboundPurpose.MAIL, created_at__gte=since)
        .exclude(status__in=PENDING_STATUSES)
        .only("status", "failure_kind", "last_error")
        .first()
    )
    if latest is None or not latest.failure_kind:
        return []
    return [
        Health.needs_action(
            "Mail not sent",
            reason=f"Your outgoing SMTP server could not send Roger's mail: {latest.last_error}"[:400],
            fix_url=reverse("outgoing_mail:network"),
            fix_label="Open Network settings",
        )
    ]
