"""Writes for print jobs."""

from __future__ import annotations

import functools
import mimetypes
import os
import posixpath
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, BinaryIO

from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from audit.services import audit_record
from print_jobs.choices import JobStatus
from print_jobs.errors import QueueNameTaken
from print_jobs.models import PrintJob, Queue
from print_jobs.registry import printed_hooks

if TYPE_CHECKING:
    from accounts.models import Tenant, User


def print_job_create(
    *,
    owner: User,
    source: str,
    source_key: str,
    title: str,
    content: bytes | BinaryIO,
    content_type: str,
    source_label: str = "",
    queue: Queue | None = None,
) -> tuple[PrintJob, bool]:
    """Create the job for `source_key` once; a redelivery returns the existing job and False. `title` is display
    text only: the stored file gets a name of our own, so no sender's name reaches the file system. `content` is
    the document's bytes, or a file to copy from in chunks (a large download is never held in memory)."""
    existing = PrintJob.objects.filter(source=source, source_key=source_key).first()
    if existing is not None:
        return existing, False
    document = ContentFile(content) if isinstance(content, bytes) else File(content)
    job = _stored_job(owner, source, source_key, title, document, content_type, source_label, queue)
    try:
        with transaction.atomic():
            job.save()
    except IntegrityError:  # a concurrent delivery of the same item won
        job.document.delete(save=False)
        return PrintJob.objects.get(source=source, source_key=source_key), False
    return job, True


@dataclass(frozen=True)
class NewPrintJob:
    """One job of a batch (`print_jobs_create`), as `print_job_create` takes it."""

    owner: User
    source_key: str
    title: str
    content: bytes
    content_type: str


def print_jobs_create(*, source: str, jobs: Sequence[NewPrintJob]) -> list[PrintJob]:
    """Create the jobs of a batch in one INSERT, each once: a key that already has a job (or comes twice) is left
    out. Meant to run inside the caller's transaction: a job of the same key delivered meanwhile raises
    IntegrityError, the files stored for the batch are removed, and the caller can go one by one with
    `print_job_create`. The documents are stored before the INSERT, so no job ever names a missing file; when the
    caller's transaction rolls back after this returned, it removes them with `print_jobs_discard`. Returns the
    jobs created."""
    if not jobs:
        return []
    keys = [job.source_key for job in jobs]
    taken = set(PrintJob.objects.filter(source=source, source_key__in=keys).values_list("source_key", flat=True))
    created, contents = [], []
    for new in jobs:
        if new.source_key in taken:
            continue
        taken.add(new.source_key)
        created.append(_new_job(new.owner, source, new.source_key, new.title, len(new.content), new.content_type))
        contents.append(new.content)
    try:
        _documents_store(created, contents)
        PrintJob.objects.bulk_create(created)
    except BaseException:
        print_jobs_discard(jobs=created)
        raise
    return created


def print_jobs_discard(*, jobs: Sequence[PrintJob]) -> None:
    """Remove the stored documents of jobs whose rows were never written or were rolled back (call it only when
    that is certain: from inside the transaction that is failing, never after a COMMIT that failed, which may have
    committed). A file no job names is harmless otherwise (a random name nothing links to), only disk space."""
    for job in jobs:
        if job.document.name:
            job.document.delete(save=False)


def _new_job(
    owner: User,
    source: str,
    source_key: str,
    title: str,
    size: int,
    content_type: str,
    source_label: str = "",
    queue: Queue | None = None,
) -> PrintJob:
    """A job not saved yet, without its document."""
    return PrintJob(
        tenant=owner.tenant,
        owner=owner,
        source=source,
        source_key=source_key,
        source_label=source_label[:255],
        queue=queue,
        title=title[:255],
        size=size,
        content_type=content_type,
        # A deactivated owner's job is kept, not printed, until they come back.
        status=JobStatus.READY if owner.is_active else JobStatus.HELD,
    )


def _stored_job(
    owner: User,
    source: str,
    source_key: str,
    title: str,
    document: File,  # type: ignore[type-arg]
    content_type: str,
    source_label: str = "",
    queue: Queue | None = None,
) -> PrintJob:
    """A job not saved yet, its document stored under a name of our own."""
    job = _new_job(owner, source, source_key, title, document.size, content_type, source_label, queue)
    job.document.save(_stored_name(title, content_type), document, save=False)
    return job


def _documents_store(jobs: list[PrintJob], contents: list[bytes]) -> None:
    """Store each job's document under a fresh name of our own, in one pass. On the file system (the deployment's
    FileSystemStorage) the first document of a tenant goes through the storage, which makes its folder and names
    it; the others are written straight into that folder (documents of a tenant share it: print_jobs.models
    .document_path), since a storage call a file costs several times the write (name checks, an exists(), a
    makedirs, a lock). Any other storage: one storage call a document."""
    storage = PrintJob._meta.get_field("document").storage
    direct = storage.__class__ is FileSystemStorage  # exactly: a subclass may name or write files its own way
    mode = storage.file_permissions_mode if isinstance(storage, FileSystemStorage) else None
    folders: dict[int, tuple[str, str]] = {}  # tenant -> its folder: the name in the storage, the path on disk
    for job, content in zip(jobs, contents, strict=True):
        name = _stored_name(job.title, job.content_type)
        folder = folders.get(job.tenant_id) if direct else None
        if folder is not None and _written(os.path.join(folder[1], name), content, mode):
            job.document.name = posixpath.join(folder[0], name)
            continue
        job.document.save(name, ContentFile(content), save=False)
        stored = posixpath.dirname(job.document.name or "")
        folders[job.tenant_id] = (stored, os.path.dirname(storage.path(job.document.name or "")))


def _written(path: str, content: bytes, mode: int | None) -> bool:
    """`content` written as the new file `path`, with the storage's permissions; False when the name is taken."""
    try:
        file = open(path, "xb")  # noqa: SIM115  (closed below; a name taken is told apart from a failed write)
    except FileExistsError:
        return False
    try:
        with file:
            file.write(content)
            if mode is not None:
                os.fchmod(file.fileno(), mode)
    except BaseException:
        os.remove(path)
        raise
    return True


def print_job_release(*, job: PrintJob, actor: User) -> bool:
    """The job is printed (the Jobs page's Release stands in for the printer until devices exist): its status,
    the audit trail and the delivering feature's follow-up (printed hooks) in one transaction. False when the job
    was not waiting to be printed (a second click changes nothing)."""
    with transaction.atomic():
        released = PrintJob.objects.filter(pk=job.pk, status=JobStatus.READY).update(
            status=JobStatus.PRINTED, printed_at=timezone.now()
        )
        if not released:
            return False
        job.refresh_from_db()
        audit_record(
            actor=actor,
            action="print_job.released",
            target=job,
            details={"source": job.source, "title": job.title},
        )
        for hook in printed_hooks():
            hook(job, actor)
    return True


def print_jobs_hold(*, user_ids: list[int]) -> int:
    """The users were deactivated: their jobs waiting to be printed are held (kept, never printed) until they are
    reactivated. Printed and failed jobs stay as they are (history)."""
    return PrintJob.objects.filter(owner_id__in=user_ids, status=JobStatus.READY).update(status=JobStatus.HELD)


def print_jobs_unhold(*, user_ids: list[int]) -> int:
    """The users were reactivated: their held jobs wait to be printed again."""
    return PrintJob.objects.filter(owner_id__in=user_ids, status=JobStatus.HELD).update(status=JobStatus.READY)


def print_job_note_set(*, job_id: int, note: str) -> None:
    """What the delivering feature reports about the job (shown with it)."""
    PrintJob.objects.filter(pk=job_id).update(source_note=note[:300])


_SAFE_SUFFIX = re.compile(r"\.[a-z0-9]{1,8}")
_GENERIC_TYPES = frozenset({"application/octet-stream", "application/x-download", ""})


def _stored_name(title: str, content_type: str) -> str:
    """A fresh random name with the content type's extension, or the title's when the type says nothing and the
    extension is a plain one."""
    suffix = _type_suffix(content_type)
    if not suffix:
        title_suffix = PurePosixPath(title).suffix.lower()
        suffix = title_suffix if _SAFE_SUFFIX.fullmatch(title_suffix) else ""
    return f"{uuid.uuid4().hex}{suffix}"


@functools.lru_cache(maxsize=64)
def _type_suffix(content_type: str) -> str:
    return "" if content_type in _GENERIC_TYPES else mimetypes.guess_extension(content_type) or ""


def queue_create(*, tenant: Tenant, name: str, actor: User | None) -> Queue:
    """A new queue of the tenant; raises QueueNameTaken when one has that name (in any case)."""
    name = " ".join(name.split())
    if Queue.objects.filter(tenant=tenant).annotate(lower=Lower("name")).filter(lower=name.lower()).exists():
        raise QueueNameTaken(f"There is already a queue named “{name}”.")
    try:
        with transaction.atomic():
            queue = Queue.objects.create(tenant=tenant, name=name)
    except IntegrityError as exc:  # created meanwhile
        raise QueueNameTaken(f"There is already a queue named “{name}”.") from exc
    audit_record(tenant=tenant, actor=actor, action="print_queue.created", target=queue, details={"name": name})
    return queue
