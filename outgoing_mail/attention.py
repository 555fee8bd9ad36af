"""Dashboard "Needs attention": the tenant's outgoing server failed to send portal mail recently."""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from outgoing_mail.choices import OutboundPurpose
from outgoing_mail.models import OutboundEmail
from ui.choices import Severity

RECENT = timedelta(days=7)


def outgoing_mail_attention(request: HttpRequest) -> list[dict[str, str]]:
    tenant = getattr(request, "tenant", None)
    if tenant is None:
        return []
    since = timezone.now() - RECENT
    latest = (
        OutboundEmail.objects.filter(tenant=tenant, purpose=OutboundPurpose.MAIL, created_at__gte=since)
        .exclude(status__in=("queued", "sending"))
        .only("status", "failure_kind", "last_error")
        .first()
    )
    if latest is None or not latest.failure_kind:
        return []
    text = f"Your outgoing SMTP server could not send Roger's mail: {latest.last_error}"
    return [{"level": Severity.ERROR, "text": text[:400], "url": reverse("outgoing_mail:network")}]
