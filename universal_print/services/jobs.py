"""Taking one Universal Print job: the print job of the person who printed, then the task completed.

Each job is background work of its own (a `ReceivedJob` row, claimed), so a redelivered task or a second poll
finds it held or done and never takes it twice. Steps, each safe to repeat:

1. read the job (who printed it, its documents), find the person by the directory and their object id through
   the identity link (never by name), check the document types;
2. stream each document into a temporary file and make the print job from it, keyed on directory + printer + job
   + document: a worker that dies after this makes no second print job when the job is taken again (the
   download is skipped when the print job exists);
3. complete the task ("Held in Roger for release"), or abort the job with a reason the person sees in Windows.
   Both are harmless to repeat on a finished task.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import timedelta
from typing import TYPE_CHECKING, BinaryIO, cast

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from accounts.selectors import user_by_identity
from audit.services import audit_record
from background.claims import Claim, backoff_delay, work_claim, work_release, work_renew
from credentials.errors import CredentialError
from integrations.services.permissions import feature_permission_refused
from integrations.services.tokens import with_feature_app_token
from microsoft import errors as microsoft_errors
from microsoft import universal_print as up
from print_jobs.choices import JobSource
from print_jobs.selectors import print_job_of_source
from print_jobs.services import print_job_create
from universal_print.choices import JobOutcome, TaskStatus
from universal_print.models import ReceivedJob
from universal_print.selectors import connection_can_take_jobs
from universal_print.services.calls import RETRY_FIRST, RETRY_MAX, trouble_of

if TYPE_CHECKING:
    from accounts.models import User
    from integrations.models import Feature
    from print_jobs.models import PrintJob

logger = logging.getLogger(__name__)

# After this many failed attempts in a row (about five hours with the backoff), Roger gives the job up and
# aborts it, so it does not stay blocked in Universal Print.
MAX_ATTEMPTS = 10
HELD_DESCRIPTION = "Held in Roger for release"
DOCUMENT_TYPES = {
    "application/pdf": "PDF",
    "application/oxps": "XPS",
    "application/vnd.ms-xpsdocument": "XPS",
}


def jobs_open() -> QuerySet[ReceivedJob]:
    """The jobs whose task Roger still has to complete or abort (the kind of background work the sweep queues).
    A claim is released on every row (`ReceivedJob.objects`): the work may have just finished the task."""
    return ReceivedJob.objects.filter(task_status=TaskStatus.OPEN)


def received_job_take(*, job_id: int) -> str:
    """Take the job if it is due and nobody holds it; returns what happened (for the log)."""
    claim = work_claim(jobs_open(), job_id, lease=_lease())
    if claim is None:
        return "skipped"
    job = ReceivedJob.objects.select_related(
        "tenant",
        "connection__tenant",
        "connection__feature__app_registration",
        "connection__feature__tenant",
        "printer__queue",
    ).get(pk=job_id)
    connection, feature = job.connection, job.connection.feature
    if feature is None or not connection_can_take_jobs(connection):
        # Parked: the connection's poll hands it over again once Roger can take jobs.
        work_release(ReceivedJob.objects.all(), claim, next_attempt_at=None)
        return "waiting"
    now = timezone.now()
    if connection.throttled_until and connection.throttled_until > now:
        work_release(ReceivedJob.objects.all(), claim, next_attempt_at=connection.throttled_until)
        return "throttled"
    try:
        _take(job, feature, claim)
    except (microsoft_errors.MicrosoftError, CredentialError) as exc:
        return _failed(job, feature, claim, exc)
    work_release(ReceivedJob.objects.all(), claim, next_attempt_at=None, attempts=0)
    return str(job.outcome)


def _take(job: ReceivedJob, feature: Feature, claim: Claim) -> None:
    if job.outcome == JobOutcome.RECEIVING:
        _receive(job, feature, claim)
    if job.outcome == JobOutcome.HELD:
        task = with_feature_app_token(
            feature,
            lambda token: up.task_complete(
                token=token,
                definition_id=job.connection.definition_id,
                task_id=job.task_id,
                description=HELD_DESCRIPTION,
            ),
        )
        _finished(job, task.state)
    else:
        _abort(job, feature)


def _receive(job: ReceivedJob, feature: Feature, claim: Claim) -> None:
    try:
        found = with_feature_app_token(
            feature, lambda token: up.job_get(token=token, printer_id=job.up_printer_id, job_id=job.up_job_id)
        )
    except microsoft_errors.ResourceNotFound:
        _decide(job, JobOutcome.FAILED, "The job was cancelled or deleted in Universal Print before Roger took it.")
        return
    job.creator_object_id = (found.created_by.object_id or "")[:36]
    job.creator_name = (found.created_by.user_principal_name or found.created_by.display_name or "")[:320]
    job.document_name = (found.documents[0].display_name if found.documents else "")[:255]
    owner, refusal = _owner(job, found.created_by)
    refusal = refusal or _documents_refusal(found)
    if owner is None or refusal:
        _decide(job, JobOutcome.ABORTED, refusal)
        return
    made = [_print_job(job, owner, found, document, feature, claim) for document in found.documents]
    if any(p is None for p in made):
        return  # a document was refused (too large): the job is aborted
    with transaction.atomic():
        job.owner, job.print_job = owner, made[0]
        _decide(job, JobOutcome.HELD, "")
        if job.printer is not None:
            type(job.printer).objects.filter(pk=job.printer.pk).update(last_job_at=timezone.now())


def _owner(job: ReceivedJob, creator: up.JobCreator) -> tuple[User | None, str]:
    tenant = job.tenant
    user = user_by_identity(tenant=tenant, directory_id=job.directory_id, object_id=creator.object_id or "")
    if user is None:
        return None, (
            f"You are not a user of {tenant.display_name}'s print service, so Roger did not take this job. Ask your "
            "administrator to add your account, then print again."
        )
    if not user.is_active:
        return None, (
            f"Your account in {tenant.display_name}'s print service is deactivated, so Roger did not take this job. "
            "Ask your administrator."
        )
    return user, ""


def _documents_refusal(found: up.PrintJob) -> str:
    if not found.documents:
        return "The job has no document to print."
    for document in found.documents:
        if (document.content_type or "").lower() not in DOCUMENT_TYPES:
            accepted = ", ".join(sorted(set(DOCUMENT_TYPES.values())))
            return (
                f"Roger does not print {document.content_type or 'this kind of'} documents ({accepted} only). Print "
                "again from an application that sends one of these."
            )
    return ""


def _print_job(
    job: ReceivedJob, owner: User, found: up.PrintJob, document: up.PrintDocument, feature: Feature, claim: Claim
) -> PrintJob | None:
    key = f"{job.key}:{document.id}"
    existing = print_job_of_source(source=JobSource.UNIVERSAL_PRINT, source_key=key)
    if existing is not None:  # made before a worker died, the task still open: no second download
        return existing
    limit = settings.UNIVERSAL_PRINT_MAX_DOCUMENT_MB * 1024 * 1024
    with tempfile.TemporaryFile() as temporary:
        file = cast(BinaryIO, temporary)
        try:
            with_feature_app_token(
                feature,
                lambda token: up.document_download(
                    token=token,
                    printer_id=job.up_printer_id,
                    job_id=job.up_job_id,
                    document_id=document.id,
                    destination=_rewound(file),
                    max_bytes=limit,
                ),
            )
        except microsoft_errors.ContentTooLarge:
            _decide(
                job,
                JobOutcome.ABORTED,
                f"The document is larger than {settings.UNIVERSAL_PRINT_MAX_DOCUMENT_MB} MB, the most Roger takes.",
            )
            return None
        work_renew(jobs_open(), claim, lease=_lease())
        file.seek(0)
        printer = job.printer
        made, _created = print_job_create(
            owner=owner,
            source=JobSource.UNIVERSAL_PRINT,
            source_key=key,
            title=document.display_name or f"Universal Print job {found.id}",
            content=file,
            content_type=(document.content_type or "application/octet-stream").lower(),
            source_label=printer.windows_name if printer else "",
            queue=printer.queue if printer else None,
        )
    return made


def _rewound(file: BinaryIO) -> BinaryIO:
    """The temporary file emptied: a download tried again with a new token starts over."""
    file.seek(0)
    file.truncate()
    return file


def _decide(job: ReceivedJob, outcome: str, reason: str) -> None:
    job.outcome, job.reason = outcome, reason
    job.save(
        update_fields=["outcome", "reason", "owner", "print_job", "creator_object_id", "creator_name", "document_name"]
    )


def _abort(job: ReceivedJob, feature: Feature) -> None:
    """Abort the job with its reason (what the person sees in Windows), through the job when Roger may, else
    through its task; both are harmless on a job already finished."""
    reason = job.reason[:500] or "Roger could not take this job."
    try:
        with_feature_app_token(
            feature,
            lambda token: up.job_abort(token=token, printer_id=job.up_printer_id, job_id=job.up_job_id, reason=reason),
        )
        state = up.TaskState.ABORTED
    except microsoft_errors.ResourceNotFound:
        state = up.TaskState.UNKNOWN  # the job is gone: its task may be too
    except (microsoft_errors.PrintOperationRefused, microsoft_errors.PermissionMissing) as exc:
        if isinstance(exc, microsoft_errors.PermissionMissing):
            feature_permission_refused(feature=feature, permissions=["PrintJob.ReadWriteBasic.All"])
        state = None
    if state != up.TaskState.ABORTED:
        try:
            task = with_feature_app_token(
                feature,
                lambda token: up.task_abort(
                    token=token, definition_id=job.connection.definition_id, task_id=job.task_id, description=reason
                ),
            )
            state = task.state
        except microsoft_errors.ResourceNotFound:
            state = None
    _finished(job, state)
    if job.outcome == JobOutcome.ABORTED:
        audit_record(
            actor=None,
            action="universal_print.job_aborted",
            target=job,
            details={
                "printer_id": job.up_printer_id,
                "job_id": job.up_job_id,
                "creator": job.creator_name,
                "reason": job.reason,
            },
        )


def _finished(job: ReceivedJob, state: up.TaskState | None) -> None:
    statuses = {up.TaskState.COMPLETED: TaskStatus.COMPLETED, up.TaskState.ABORTED: TaskStatus.ABORTED}
    job.task_status = statuses.get(state, TaskStatus.GONE) if state is not None else TaskStatus.GONE
    job.finished_at = timezone.now()
    job.last_error = ""
    job.save(update_fields=["task_status", "finished_at", "last_error"])


def _failed(job: ReceivedJob, feature: Feature, claim: Claim, exc: Exception) -> str:
    attempts = job.attempts + 1
    trouble = trouble_of(
        exc, connection=job.connection, feature=feature, permission=_permission_of(job), attempts=attempts
    )
    message = trouble.message
    ReceivedJob.objects.filter(pk=job.pk).update(last_error=message)
    if job.printer is not None:
        type(job.printer).objects.filter(pk=job.printer.pk).update(last_error=message, last_error_at=timezone.now())
    logger.info("Universal Print job %s: %s", job.pk, message)
    if trouble.retry_at is None:  # a person must act: parked until the poll hands it over again
        work_release(ReceivedJob.objects.all(), claim, next_attempt_at=None, attempts=attempts)
        return "waiting"
    if attempts >= MAX_ATTEMPTS and not trouble.throttled:
        return _give_up(job, feature, claim, message)
    work_release(ReceivedJob.objects.all(), claim, next_attempt_at=trouble.retry_at, attempts=F("attempts") + 1)
    return "retrying"


def _permission_of(job: ReceivedJob) -> str:
    return "PrintJob.Read.All" if job.outcome == JobOutcome.RECEIVING else "PrintTaskDefinition.ReadWrite.All"


def _give_up(job: ReceivedJob, feature: Feature, claim: Claim, message: str) -> str:
    job.outcome, job.reason = JobOutcome.FAILED, f"Roger could not take this job: {message}"[:1000]
    job.save(update_fields=["outcome", "reason"])
    try:
        _abort(job, feature)
    except (microsoft_errors.MicrosoftError, CredentialError):
        later = timezone.now() + backoff_delay(job.attempts + 1, first=RETRY_FIRST, maximum=RETRY_MAX)
        work_release(ReceivedJob.objects.all(), claim, next_attempt_at=later, attempts=F("attempts") + 1)
        return "retrying"
    work_release(ReceivedJob.objects.all(), claim, next_attempt_at=None)
    return "failed"


def _lease() -> timedelta:
    return timedelta(seconds=settings.UNIVERSAL_PRINT_LEASE_SECONDS)
