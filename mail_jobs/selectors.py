"""Reads of Jobs via Email, always scoped to one Roger tenant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import Count, Q, QuerySet, Sum

from mail_jobs.choices import Outcome
from mail_jobs.models import MailJobSource, ProcessedMessage
from mail_servers.choices import ServerKind

if TYPE_CHECKING:
    from accounts.models import Tenant


@dataclass(frozen=True)
class SourceCounts:
    messages: int
    jobs: int
    rejected: int


def mail_source_counts(*, tenant: Tenant) -> SourceCounts:
    totals = ProcessedMessage.objects.filter(tenant=tenant).aggregate(
        messages=Count("id"), jobs=Sum("jobs_created"), rejected=Count("id", filter=~Q(outcome=Outcome.PRINTED))
    )
    return SourceCounts(totals["messages"] or 0, totals["jobs"] or 0, totals["rejected"] or 0)


def recent_rejections(*, tenant: Tenant, limit: int = 10) -> QuerySet[ProcessedMessage]:
    return ProcessedMessage.objects.filter(tenant=tenant).exclude(outcome=Outcome.PRINTED)[:limit]


def sources_reading_system(*, system_id: int) -> QuerySet[MailJobSource]:
    """Sources that read the mailbox of an Exchange Online system (not merely keeping it chosen)."""
    return MailJobSource.objects.filter(
        mail_server__kind=ServerKind.EXCHANGE, mail_server__exchange_system_id=system_id
    )
