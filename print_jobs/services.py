"""Writes for print jobs."""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from accounts.models import User
from print_jobs.models import PrintJob


def print_job_create(
    *, owner: User, source: str, source_key: str, title: str, content: bytes, content_type: str
) -> tuple[PrintJob, bool]:
    """Create the job for `source_key` once; a redelivery returns the existing job and False."""
    existing = PrintJob.objects.filter(source=source, source_key=source_key).first()
    if existing is not None:
        return existing, False
    job = PrintJob(
        tenant=owner.tenant,
        owner=owner,
        source=source,
        source_key=source_key,
        title=title,
        size=len(content),
        content_type=content_type,
    )
    job.document.save(title, ContentFile(content), save=False)
    try:
        with transaction.atomic():
            job.save()
    except IntegrityError:  # a concurrent delivery of the same item won
        job.document.delete(save=False)
        return PrintJob.objects.get(source=source, source_key=source_key), False
    return job, True
