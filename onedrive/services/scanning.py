"""Scan to OneDrive: a scanned document is kept until it is in the user's scan folder, then forgotten.

The upload never overwrites: a name already taken becomes "name 1.pdf" (Graph's conflictBehavior=rename). A large
scan goes through an upload session whose state (its URL, a credential: encrypted) is saved before the first byte
is sent, so an upload interrupted anywhere (a failed fragment, a Retry-After, a killed worker) resumes where it
stopped, or finds the file its last fragment already committed, and never leaves two copies.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from background.claims import Claim, work_claim, work_release
from background.kinds import work_queue
from microsoft import errors as microsoft_errors
from microsoft import onedrive as od
from onedrive.choices import ScanOrigin, ScanStatus
from onedrive.errors import OneDriveError, ReconnectNeeded
from onedrive.models import ScanDelivery
from onedrive.selectors import onedrive_connection, preference_of, tenant_of
from onedrive.services.connection import with_user_token
from onedrive.services.work import LeaseKeepingFile, failure_outcome, lease
from throttling.services import scope_limits, throttle_take

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)


def scan_delivery_create(*, user: User, name: str, document: File, origin: str = ScanOrigin.UPLOAD) -> ScanDelivery:
    """Keep a scan for delivery to the user's scan folder and queue its upload. Raises OneDriveError (not
    connected, empty, too large, throttled)."""
    connection = onedrive_connection(user=user)
    if connection is None or not connection.usable:
        raise ReconnectNeeded("Connect your OneDrive first, in My Settings > Cloud Services.")
    size = document.size or 0
    if size <= 0:
        raise OneDriveError("The scan is empty.")
    if size > settings.ONEDRIVE_SCAN_MAX_BYTES:
        raise OneDriveError(f"A scan may be at most {settings.ONEDRIVE_SCAN_MAX_BYTES // (1024 * 1024)} MB.")
    throttle_take(limits=scope_limits("onedrive_scan", address=user.email, tenant=tenant_of(user).name))
    delivery = ScanDelivery(
        tenant=tenant_of(user),
        user=user,
        feature=connection.feature,
        origin=origin,
        name=od.safe_file_name(name, fallback="Scan.pdf"),
        folder=preference_of(user=user).scan_folder,
        size=size,
        next_attempt_at=timezone.now(),
    )
    delivery.document.save("scan", document, save=False)
    with transaction.atomic():
        delivery.save()
        audit_record(
            tenant=tenant_of(user),
            actor=user,
            action="onedrive.scan_received",
            target=delivery,
            details={"name": delivery.name, "size": size, "folder": delivery.folder, "origin": origin},
        )
        _queue(delivery.pk)
    return delivery


def scan_deliver(*, delivery_id: int) -> ScanDelivery | None:
    """Upload the scan into the scan folder (its task). None when there was nothing to do."""
    rows = ScanDelivery.objects.filter(status__in=ScanStatus.working())
    claim = work_claim(rows, delivery_id, lease=lease(), status=ScanStatus.UPLOADING)
    if claim is None:
        return None
    delivery = ScanDelivery.objects.select_related("user__tenant", "feature").get(pk=delivery_id)
    try:
        item = _upload(delivery, claim)
    except (OneDriveError, microsoft_errors.MicrosoftError) as exc:
        outcome = failure_outcome(
            exc,
            attempts=delivery.attempts,
            failed_status=ScanStatus.FAILED,
            reconnect_status=ScanStatus.NEEDS_RECONNECT,
        )
        fields = {"status": ScanStatus.QUEUED, **outcome.fields}
        _release(delivery, claim, fields, retry_in=outcome.retry_in)
        logger.warning("Scan delivery %s: %s (%s)", delivery.pk, type(exc).__name__, fields["status"])
    else:
        _delivered(delivery, claim, item)
    delivery.refresh_from_db()
    return delivery


def _upload(delivery: ScanDelivery, claim: Claim) -> od.DriveItem:
    rows = ScanDelivery.objects.all()

    def keep(session: od.UploadSession) -> None:
        # Committed at once (outside any transaction), before the first byte: a worker killed from here on
        # leaves what the next attempt needs to resume or to find the finished file.
        rows.filter(pk=delivery.pk, lease_token=claim.token).update(upload_session=json.dumps(session.as_json()))

    def upload(token: str) -> od.DriveItem:
        saved = rows.filter(pk=delivery.pk).values_list("upload_session", flat=True).first()
        folder = od.folder_ensure(token=token, path=delivery.folder)
        with delivery.document.open("rb") as stored:
            return od.file_upload(
                token=token,
                folder_path=folder.path,
                name=delivery.name,
                source=LeaseKeepingFile(stored, rows, claim),  # type: ignore[arg-type]
                size=delivery.size,
                conflict=od.Conflict.RENAME,
                resume=od.UploadSession.from_json(json.loads(saved)) if saved else None,
                on_session=keep,
            )

    try:
        return with_user_token(user=delivery.user, feature=delivery.feature, call=upload)
    except microsoft_errors.NameConflict as exc:
        raise OneDriveError(f"The scan folder {delivery.folder} is a file in your OneDrive: choose another.") from exc


def _delivered(delivery: ScanDelivery, claim: Claim, item: od.DriveItem) -> None:
    with transaction.atomic():
        released = work_release(
            ScanDelivery.objects.all(),
            claim,
            status=ScanStatus.DELIVERED,
            delivered_name=item.name[:255],
            delivered_item_id=item.id,
            delivered_at=timezone.now(),
            upload_session="",
            document="",
            result=f"In OneDrive as {item.path}."[:300],
            attempts=0,
            next_attempt_at=None,
        )
        if not released:
            return
        audit_record(
            actor=None,
            action="onedrive.scan_delivered",
            target=delivery,
            details={"name": item.name, "folder": delivery.folder, "item": item.id},
        )
        stored = delivery.document.name
        # The scan is in OneDrive now: our copy goes once that is recorded.
        transaction.on_commit(lambda: delivery.document.storage.delete(stored))


def _release(delivery: ScanDelivery, claim: Claim, fields: dict[str, object], *, retry_in: float | None) -> None:
    with transaction.atomic():
        if not work_release(ScanDelivery.objects.all(), claim, **fields):
            return
        if retry_in is not None:
            _queue(delivery.pk, countdown=retry_in)
        if fields["status"] in ScanStatus.stopped():
            audit_record(
                actor=None,
                action=f"onedrive.scan_{fields['status']}",
                target=delivery,
                details={"name": delivery.name, "result": fields.get("result", "")},
            )


def scan_retry(*, delivery: ScanDelivery) -> bool:
    """Try again a delivery that failed or waited for a reconnect."""
    if not delivery.can_retry:
        return False
    with transaction.atomic():
        ScanDelivery.objects.filter(pk=delivery.pk).update(
            status=ScanStatus.QUEUED, next_attempt_at=timezone.now(), attempts=0, result=""
        )
        audit_record(action="onedrive.scan_retried", target=delivery)
        _queue(delivery.pk)
    return True


def _queue(delivery_id: int, *, countdown: float | None = None) -> None:
    from onedrive.tasks import scan_deliver_task  # the tasks module imports this one

    work_queue(scan_deliver_task, delivery_id, countdown=countdown)
