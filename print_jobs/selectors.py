from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from print_jobs.models import PrintJob, Queue

if TYPE_CHECKING:
    from accounts.models import Tenant, User


def print_job_list(*, user: User) -> QuerySet[PrintJob]:
    """A user sees their own jobs; a tenant admin sees the tenant's."""
    jobs = PrintJob.objects.filter(tenant=user.tenant).select_related("owner", "queue")
    return jobs if user.is_tenant_admin else jobs.filter(owner=user)


def print_job_rows(*, user: User) -> QuerySet[PrintJob]:
    """`print_job_list` with what the Jobs page shows of each job (of its owner the address, of its queue the
    name): a full user row a job was a third of the rows' instantiation."""
    return print_job_list(user=user).only(
        *("tenant_id", "source", "source_label", "title", "size", "content_type", "status", "received_at"),
        *("source_note", "owner__email", "queue__name"),
    )


def print_job_get(*, user: User, pk: int) -> PrintJob:
    """One job the user may see (their own; a tenant admin: the tenant's), else 404."""
    return get_object_or_404(print_job_list(user=user), pk=pk)


def print_job_of_source(*, source: str, source_key: str) -> PrintJob | None:
    """The job a source already made of this item (jobs are unique per source and its key), else None."""
    return PrintJob.objects.filter(source=source, source_key=source_key).first()


def queue_list(*, tenant: Tenant) -> QuerySet[Queue]:
    return Queue.objects.filter(tenant=tenant)
