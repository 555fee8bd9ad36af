"""Print from OneDrive: each chosen file becomes a print job of its user; once printed, the user's Printed Job
preference is applied to the file in OneDrive. Both steps are background work (background.claims) on one row.

- A print request makes one `OneDrivePrint` per file with a fresh request key, so the same file can be printed
  again later; the job's own source key is "<request key>:<item id>", so a fetch redelivered after the job was
  made finds that job instead of making a second one.
- The fetch reads the item (name, size, version), refuses what cannot be printed or is over the size limit, and
  streams the content to a temporary file, never whole into memory, then into the job's storage.
- Once the job is printed (print_jobs' printed hook), the preference is recorded on the row and applied: Leave it
  at once; Delete (only the version that was printed: a file changed since is left) and Move to "Printed" (the
  folder is made when missing) in the background. A redelivered tidy finds the row done, or the file already
  gone or already moved: nothing is deleted or moved twice.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from background.claims import Claim, work_claim, work_release
from background.kinds import work_queue
from microsoft import errors as microsoft_errors
from microsoft import onedrive as od
from onedrive.choices import PrintedAction, PrintStage, PrintStatus
from onedrive.errors import OneDriveError, ReconnectNeeded
from onedrive.models import PRINTED_FOLDER, OneDrivePrint
from onedrive.printable import content_type_of, is_printable
from onedrive.selectors import onedrive_connection, preference_of, tenant_of
from onedrive.services.connection import with_user_token
from onedrive.services.work import LeaseKeepingFile, failure_outcome, lease
from print_jobs.choices import JobSource
from print_jobs.services import print_job_create, print_job_note_set
from throttling.services import scope_limits, throttle_take

if TYPE_CHECKING:
    from accounts.models import User
    from print_jobs.models import PrintJob

logger = logging.getLogger(__name__)

MAX_FILES_PER_REQUEST = 50


def print_request_create(*, user: User, items: Sequence[tuple[str, str]]) -> list[OneDrivePrint]:
    """One print job per chosen file (`items`: item id and the name shown while browsing; the name is replaced by
    what OneDrive says when the file is fetched). Raises OneDriveError (not connected, too many, throttled)."""
    connection = onedrive_connection(user=user)
    if connection is None or not connection.usable:
        raise ReconnectNeeded("Connect your OneDrive first, in My Settings > Cloud Services.")
    if not items:
        raise OneDriveError("Choose at least one file to print.")
    if len(items) > MAX_FILES_PER_REQUEST:
        raise OneDriveError(f"Choose at most {MAX_FILES_PER_REQUEST} files at a time.")
    throttle_take(limits=scope_limits("onedrive_print", address=user.email, tenant=tenant_of(user).name))
    request_key = uuid.uuid4()
    now = timezone.now()
    with transaction.atomic():
        prints = OneDrivePrint.objects.bulk_create(
            OneDrivePrint(
                tenant=tenant_of(user),
                user=user,
                feature=connection.feature,
                request_key=request_key,
                item_id=item_id,
                item_name=name[:255] or item_id,
                next_attempt_at=now,
            )
            for item_id, name in dict(items).items()
        )
        audit_record(
            tenant=tenant_of(user),
            actor=user,
            action="onedrive.print_requested",
            target=connection.feature,
            details={"request": str(request_key), "items": [p.item_id for p in prints]},
        )
        for each in prints:
            _queue(each.pk)
    return prints


# --- the fetch ------------------------------------------------------------------------------------------------


def print_work(*, print_id: int) -> OneDrivePrint | None:
    """The background step due on the row (its task): fetch into a job, or apply the preference after printing.
    None when there was nothing to do (done meanwhile, or another worker has it)."""
    rows = OneDrivePrint.objects.filter(status__in=PrintStatus.working())
    claim = work_claim(rows, print_id, lease=lease())
    if claim is None:
        return None
    row = OneDrivePrint.objects.select_related("user__tenant", "feature", "job").get(pk=print_id)
    try:
        fields = _fetch(row, claim) if row.stage == PrintStage.FETCH else _tidy(row)
    except (OneDriveError, microsoft_errors.MicrosoftError) as exc:
        outcome = failure_outcome(
            exc, attempts=row.attempts, failed_status=PrintStatus.FAILED, reconnect_status=PrintStatus.NEEDS_RECONNECT
        )
        _release(row, claim, outcome.fields, retry_in=outcome.retry_in)
        logger.warning("OneDrive print %s: %s (%s)", row.pk, type(exc).__name__, outcome.fields.get("status", "retry"))
    else:
        _release(row, claim, {**fields, "attempts": 0, "next_attempt_at": None})
    row.refresh_from_db()
    return row


def _release(row: OneDrivePrint, claim: Claim, fields: dict[str, object], *, retry_in: float | None = None) -> None:
    with transaction.atomic():
        if not work_release(OneDrivePrint.objects.all(), claim, **fields):
            return  # the lease ran out and another worker took the row: its outcome counts
        if retry_in is not None:
            _queue(row.pk, countdown=retry_in)
        if "status" not in fields:
            return
        if row.stage == PrintStage.TIDY and row.job_id is not None:
            print_job_note_set(job_id=row.job_id, note=_job_note(str(fields["status"]), str(fields.get("result", ""))))
        audit_record(
            actor=None,
            action=f"onedrive.print_{fields['status']}",
            target=row,
            details={"item": row.item_id, "stage": row.stage, "result": fields.get("result", "")},
        )


def _job_note(status: str, result: str) -> str:
    if status in PrintStatus.stopped():
        return f"Your Printed Job preference was not applied: {result}"
    return result


def _fetch(row: OneDrivePrint, claim: Claim) -> dict[str, object]:
    limit = settings.ONEDRIVE_PRINT_MAX_BYTES
    item = with_user_token(
        user=row.user, feature=row.feature, call=lambda token: od.item_get(token=token, item_id=row.item_id)
    )
    if item.is_folder or not is_printable(item.name):
        raise OneDriveError(f"{item.name} is not a file Roger can print.")
    if item.size > limit:
        raise OneDriveError(f"{item.name} is larger than the {limit // (1024 * 1024)} MB that can be printed.")
    with tempfile.TemporaryFile() as spool:
        destination = LeaseKeepingFile(spool, OneDrivePrint.objects.all(), claim)

        def download(token: str) -> int:
            spool.seek(0)
            spool.truncate()
            return od.file_download(token=token, item_id=item.id, destination=destination, max_bytes=limit)  # type: ignore[arg-type]

        with_user_token(user=row.user, feature=row.feature, call=download)
        spool.seek(0)
        job, _ = print_job_create(
            owner=row.user,
            source=JobSource.ONEDRIVE,
            source_key=row.source_key,
            title=item.name,
            content=spool,
            content_type=content_type_of(item.name, item.mime_type),
        )
    return {
        "job": job,
        "item_name": item.name[:255],
        "item_folder": item.folder_path[:1000],
        "item_etag": item.etag or "",
        "status": PrintStatus.READY,
        "result": "",
    }


# --- after printing -----------------------------------------------------------------------------------------


def print_printed(job: PrintJob, actor: User | None) -> None:
    """print_jobs' printed hook: apply the owner's Printed Job preference to the file the job came from."""
    row = OneDrivePrint.objects.filter(job=job).select_related("user").first()
    if row is None or row.status != PrintStatus.READY:
        return
    action = preference_of(user=row.user).printed_action
    fields: dict[str, object] = {"stage": PrintStage.TIDY, "action": action, "attempts": 0}
    if action == PrintedAction.LEAVE:
        fields.update(status=PrintStatus.LEFT, result="Left in OneDrive.", next_attempt_at=None)
        print_job_note_set(job_id=job.pk, note="Left in OneDrive.")
    else:
        fields.update(status=PrintStatus.TIDYING, result="", next_attempt_at=timezone.now())
    OneDrivePrint.objects.filter(pk=row.pk, status=PrintStatus.READY).update(**fields)
    audit_record(
        actor=actor,
        action="onedrive.printed_job_preference",
        target=row,
        details={"item": row.item_id, "action": action},
    )
    if action != PrintedAction.LEAVE:
        _queue(row.pk)


def _tidy(row: OneDrivePrint) -> dict[str, object]:
    if row.action == PrintedAction.DELETE:
        return _delete(row)
    return _move(row)


def _delete(row: OneDrivePrint) -> dict[str, object]:
    try:
        deleted = with_user_token(
            user=row.user,
            feature=row.feature,
            call=lambda token: od.item_delete(token=token, item_id=row.item_id, if_match=row.item_etag or None),
        )
    except microsoft_errors.MicrosoftError as exc:
        if exc.status != 412:
            raise
        return {"status": PrintStatus.LEFT, "result": "Changed in OneDrive since it was printed, so it was left there."}
    if not deleted:
        return {"status": PrintStatus.DELETED, "result": "It was already gone from OneDrive."}
    return {"status": PrintStatus.DELETED, "result": "Deleted from OneDrive (it is in your recycle bin)."}


def _move(row: OneDrivePrint) -> dict[str, object]:
    def move(token: str) -> od.DriveItem:
        folder = od.folder_ensure(token=token, path=PRINTED_FOLDER)
        return od.item_move(token=token, item_id=row.item_id, folder_id=folder.id)

    try:
        moved = with_user_token(user=row.user, feature=row.feature, call=move)
    except microsoft_errors.ResourceNotFound:
        return {"status": PrintStatus.LEFT, "result": "It was no longer in OneDrive: nothing to move."}
    except microsoft_errors.NameConflict as exc:
        raise OneDriveError(
            f'A file named "{PRINTED_FOLDER[1:]}" is where the folder should be: {exc.explanation}'
        ) from exc
    return {"status": PrintStatus.MOVED, "result": f"Moved to {moved.path}."}


def print_retry(*, row: OneDrivePrint) -> bool:
    """Try again what failed or waited for a reconnect (after the user fixed it)."""
    if not row.can_retry:
        return False
    status = PrintStatus.FETCHING if row.stage == PrintStage.FETCH else PrintStatus.TIDYING
    with transaction.atomic():
        OneDrivePrint.objects.filter(pk=row.pk).update(
            status=status, next_attempt_at=timezone.now(), attempts=0, result=""
        )
        audit_record(action="onedrive.print_retried", target=row)
        _queue(row.pk)
    return True


def _queue(print_id: int, *, countdown: float | None = None) -> None:
    from onedrive.tasks import print_work_task  # the tasks module imports this one

    work_queue(print_work_task, print_id, countdown=countdown)
