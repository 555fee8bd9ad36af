from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Tenant
from audit.models import AuditEvent


def audit_event_list(*, tenant: Tenant) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(tenant=tenant).select_related("actor")
