from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Tenant, User
from print_jobs.models import PrintJob, Queue


def print_job_list(*, user: User) -> QuerySet[PrintJob]:
    """A user sees their own jobs; a tenant admin sees the tenant's."""
    jobs = PrintJob.objects.filter(tenant=user.tenant).select_related("owner", "queue")
    return jobs if user.is_tenant_admin else jobs.filter(owner=user)


def queue_list(*, tenant: Tenant) -> QuerySet[Queue]:
    return Queue.objects.filter(tenant=tenant)
