"""Writes for print jobs."""

from __future__ import annotations

import mimetypes
import re
import uuid
from pathlib import PurePosixPath

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from accounts.models import User
from print_jobs.models import PrintJob


def print_job_create(
    *, owner: User, source: str, source_key: str, title: str, content: bytes, content_type: str
) -> tuple[PrintJob, bool]:
    """Create the job for `source_key` once; a redelivery returns the existing job and False. `title` is display
    text only: the stored file gets a name of our own, so no sender's name reaches the file system."""
    existing = PrintJob.objects.filter(source=source, source_key=source_key).first()
    if existing is not None:
        return existing, False
    job = PrintJob(
        tenant=owner.tenant,
        owner=owner,
        source=source,
        source_key=source_key,
        title=title[:255],
        size=len(content),
        content_type=content_type,
    )
    job.document.save(_stored_name(title, content_type), ContentFile(content), save=False)
    try:
        with transaction.atomic():
            job.save()
    except IntegrityError:  # a concurrent delivery of the same item won
        job.document.delete(save=False)
        return PrintJob.objects.get(source=source, source_key=source_key), False
    return job, True


_SAFE_SUFFIX = re.compile(r"\.[a-z0-9]{1,8}")
_GENERIC_TYPES = frozenset({"application/octet-stream", "application/x-download", ""})


def _stored_name(title: str, content_type: str) -> str:
    """A fresh random name with the content type's extension, or the title's when the type says nothing and the
    extension is a plain one."""
    suffix = "" if content_type in _GENERIC_TYPES else mimetypes.guess_extension(content_type) or ""
    if not suffix:
        title_suffix = PurePosixPath(title).suffix.lower()
        suffix = title_suffix if _SAFE_SUFFIX.fullmatch(title_suffix) else ""
    return f"{uuid.uuid4().hex}{suffix}"
