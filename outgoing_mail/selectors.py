"""Reads of outgoing mail, always scoped to one Roger tenant."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from outgoing_mail.choices import OutboundPurpose
from outgoing_mail.models import OutboundEmail, OutgoingMailSettings

if TYPE_CHECKING:
    from accounts.models import Tenant


def outgoing_mail_settings(*, tenant: Tenant) -> OutgoingMailSettings | None:
    return OutgoingMailSettings.objects.select_related("mail_server__exchange_system").filter(tenant=tenant).first()


def test_email_get(*, tenant: Tenant, pk: int) -> OutboundEmail:
    """The tenant's test email; another tenant's id raises DoesNotExist (views answer 404)."""
    return OutboundEmail.objects.get(tenant=tenant, purpose=OutboundPurpose.TEST, pk=pk)


def latest_test_email(*, tenant: Tenant) -> OutboundEmail | None:
    return OutboundEmail.objects.filter(tenant=tenant, purpose=OutboundPurpose.TEST).first()


def outbound_recent(*, tenant: Tenant, limit: int = 10) -> QuerySet[OutboundEmail]:
    return OutboundEmail.objects.filter(tenant=tenant).defer("message")[:limit]
