"""The connection's background work, every minute while its feature is enabled (and at once on Check now or a
Printer Administrator's sign-in): apply the sign-in's printer changes, read the pending tasks and hand each to
its own job (universal_print.services.jobs), and once a day read each known printer again.

One worker at a time holds a connection (background.claims), so the task definition, which Microsoft does not
make atomically, is created once per app and directory. A failure records its cause and when to call again:
Retry-After is honoured (no call before it), and a lost consent stops the calls until consent is granted again
(Reapply Consents), instead of failing every minute.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit.services import audit_record
from background.claims import Claim, work_claim, work_release, work_renew
from background.kinds import work_queue
from credentials.errors import CredentialError
from credentials.services import credential_access_token
from integrations.services.permissions import feature_permission_refused
from integrations.services.tokens import with_feature_app_token
from microsoft import errors as microsoft_errors
from microsoft import universal_print as up
from universal_print.choices import PollStatus, SignInStatus, TaskStatus
from universal_print.models import AdminSignIn, Connection, Printer, ReceivedJob
from universal_print.selectors import refused_permissions
from universal_print.services.calls import Trouble, trouble_of
from universal_print.services.connections import connection_waiting_check
from universal_print.services.sign_in import SIGN_IN_OWNER_TYPE, sign_in_close, sign_ins_expire

if TYPE_CHECKING:
    from integrations.models import Feature

logger = logging.getLogger(__name__)

POLL_INTERVAL = timedelta(minutes=1)
PRINTERS_CHECK_INTERVAL = timedelta(days=1)
DEFINITION_NAME = "Roger print service"


def connections_polled() -> QuerySet[Connection]:
    """The connections looked after (the kind of background work the sweep queues): those with a feature."""
    return Connection.objects.filter(feature__isnull=False)


def connection_tick(*, connection_id: int) -> str:
    """The connection's work, if it is due and no other worker holds it; returns what happened (for the log)."""
    from universal_print.tasks import connection_tick_task  # the tasks module imports this one

    claim = work_claim(connections_polled(), connection_id, lease=_lease())
    if claim is None:
        return "skipped"
    connection = Connection.objects.select_related(
        "tenant", "feature__app_registration", "feature__integration", "feature__tenant"
    ).get(pk=connection_id)
    status: PollStatus = PollStatus.FAILED
    next_at: datetime | None = timezone.now() + POLL_INTERVAL
    try:
        status, next_at = _tick(connection, claim)
    finally:
        failed = status in (PollStatus.FAILED, PollStatus.RETRYING)
        released = work_release(
            Connection.objects.all(),  # the feature may have gone meanwhile: the claim is let go all the same
            claim,
            next_attempt_at=next_at,
            attempts=F("attempts") + 1 if failed else 0,
        )
    if released and next_at is not None and next_at <= timezone.now():
        work_queue(connection_tick_task, connection_id)  # a sign-in arrived while this worker held the connection
    return str(status)


def _tick(connection: Connection, claim: Claim) -> tuple[PollStatus, datetime | None]:
    now = timezone.now()
    sign_ins_expire(connection)
    feature = connection.feature
    if feature is None:
        return PollStatus.OFF, None
    if connection.throttled_until and connection.throttled_until > now:
        return PollStatus.THROTTLED, connection.throttled_until
    stopped = _stopped_because(connection, feature)
    if stopped != PollStatus.NEEDS_CONSENT and connection.feature is not None:
        # Also while disabled: a Printer Administrator may sign in to turn the printers off.
        for sign_in in _open_sign_ins(connection):
            trouble = _apply(connection, feature, sign_in, claim)
            if trouble is not None:
                return _troubled(connection, trouble)
    if stopped is not None:
        _record(connection, stopped, "" if stopped == PollStatus.OFF else feature.consent_reason)
        connection_waiting_check(connection)
        # Nothing to do while disabled (enabling wakes it); without consent, look again next minute, without
        # calling Microsoft, until consent is granted again.
        return stopped, None if stopped == PollStatus.OFF else now + POLL_INTERVAL
    trouble = _poll(connection, feature, claim) or _printers_check(connection, feature, claim)
    if trouble is not None:
        return _troubled(connection, trouble)
    connection_waiting_check(connection)
    return _next_tick(connection)


def _stopped_because(connection: Connection, feature: Feature) -> PollStatus | None:
    if feature.app_registration.client_id.lower() != connection.client_id or feature.directory_id.lower() != (
        connection.directory_id
    ):
        Connection.objects.filter(pk=connection.pk).update(feature=None)  # the feature moved to another app
        connection.feature = None
        return PollStatus.OFF
    if not feature.enabled:
        return PollStatus.OFF
    if not feature.has_consent or refused_permissions(feature):
        return PollStatus.NEEDS_CONSENT
    return None


def _open_sign_ins(connection: Connection) -> list[AdminSignIn]:
    now = timezone.now()
    return [
        s
        for s in connection.sign_ins.filter(status__in=SignInStatus.open()).order_by("created_at")
        if s.retry_at is None or s.retry_at <= now
    ]


def _troubled(connection: Connection, trouble: Trouble) -> tuple[PollStatus, datetime | None]:
    _record(connection, trouble.status, trouble.message)
    connection_waiting_check(connection)
    if trouble.retry_at is None:  # a person must act; the poll looks again without calling Microsoft
        return trouble.status, timezone.now() + POLL_INTERVAL
    return trouble.status, trouble.retry_at


def _next_tick(connection: Connection) -> tuple[PollStatus, datetime]:
    status = PollStatus.OK if connection.printers.exclude(trigger_id="").exists() else PollStatus.IDLE
    _record(connection, status, "")
    # A sign-in that arrived during this work is applied at once rather than next minute.
    return status, timezone.now() if _open_sign_ins(connection) else timezone.now() + POLL_INTERVAL


def _record(connection: Connection, status: str, error: str) -> None:
    now = timezone.now()
    failing = status in (PollStatus.FAILED, PollStatus.RETRYING, PollStatus.THROTTLED)
    Connection.objects.filter(pk=connection.pk).update(
        last_poll_at=now,
        poll_status=status,
        poll_error=error,
        failing_since=Coalesce(F("failing_since"), Value(now)) if failing else None,
    )


# --- the pending tasks -----------------------------------------------------------------------------------------


def _poll(connection: Connection, feature: Feature, claim: Claim) -> Trouble | None:
    """Hand each pending task to its job; a task already handed over is left to it, unless it was finished here
    and Universal Print still has it open (its completion did not take), or it came again with another id."""
    if not connection.definition_id or not connection.printers.exclude(trigger_id="").exists():
        return None
    try:
        tasks = with_feature_app_token(
            feature, lambda token: up.tasks_pending(token=token, definition_id=connection.definition_id)
        )
    except microsoft_errors.ResourceNotFound:
        return _definition_lost(connection)
    except (microsoft_errors.MicrosoftError, CredentialError) as exc:
        return trouble_of(
            exc,
            connection=connection,
            feature=feature,
            permission="PrintTaskDefinition.ReadWrite.All",
            attempts=connection.attempts + 1,
        )
    printers = {p.printer_id.lower(): p for p in connection.printers.all()}
    for task in tasks:
        printer = printers.get((task.printer_id or "").lower())
        if printer is None or task.job_id is None:
            # Not a printer of this connection (another Roger tenant may share the directory and app): left alone.
            continue
        _hand_over(connection, printer, task)
    work_renew(connections_polled(), claim, lease=_lease())
    return None


def _hand_over(connection: Connection, printer: Printer, task: up.PrintTask) -> None:
    from universal_print.tasks import received_job_task  # the tasks module imports this one

    assert task.job_id is not None
    with transaction.atomic():
        job, created = ReceivedJob.objects.select_for_update().get_or_create(
            tenant_id=connection.tenant_id,
            directory_id=connection.directory_id,
            up_printer_id=printer.printer_id,
            up_job_id=task.job_id,
            defaults={
                "connection": connection,
                "printer": printer,
                "task_id": task.id,
                "next_attempt_at": timezone.now(),
            },
        )
        again = job.task_id != task.id or job.task_status != TaskStatus.OPEN or job.next_attempt_at is None
        if not created and not again:
            return  # its job has it (due, or being worked on)
        if not created:
            job.task_id, job.task_status, job.next_attempt_at = task.id, TaskStatus.OPEN, timezone.now()
            job.save(update_fields=["task_id", "task_status", "next_attempt_at"])
        work_queue(received_job_task, job.pk)


def _definition_lost(connection: Connection) -> Trouble:
    """Someone deleted the task definition (its triggers went with it): the printers take no jobs any more."""
    with transaction.atomic():
        lost = list(connection.printers.exclude(trigger_id="").values_list("name", flat=True))
        connection.printers.update(trigger_id="", trigger_created_at=None)
        Connection.objects.filter(pk=connection.pk).update(definition_id="", definition_created_at=None)
        connection.definition_id = ""
        audit_record(
            actor=None,
            action="universal_print.task_definition_lost",
            target=connection,
            details={"printers": lost},
        )
    return Trouble(
        PollStatus.FAILED,
        "Roger's task definition was deleted in Universal Print, so no printer sends its jobs to Roger any more. "
        "A Printer Administrator signs in to turn the printers on again.",
        timezone.now() + POLL_INTERVAL,
    )


# --- the daily look at the printers (app-only: Microsoft lists printers only to a Printer Administrator) --------


def _printers_check(connection: Connection, feature: Feature, claim: Claim) -> Trouble | None:
    now = timezone.now()
    if connection.printers_checked_at and connection.printers_checked_at > now - PRINTERS_CHECK_INTERVAL:
        return None
    for printer in connection.printers.filter(removed_at__isnull=True):
        try:
            found = _printer_read(feature, printer.printer_id)
        except microsoft_errors.ResourceNotFound:
            _printer_removed(printer)
            continue
        except (microsoft_errors.MicrosoftError, CredentialError) as exc:
            return trouble_of(exc, connection=connection, feature=feature, permission="Printer.Read.All", attempts=1)
        _printer_update(printer, found, checked=True)
        work_renew(connections_polled(), claim, lease=_lease())
    Connection.objects.filter(pk=connection.pk).update(printers_checked_at=now)
    return None


def _printer_read(feature: Feature, printer_id: str) -> up.Printer:
    return with_feature_app_token(feature, lambda token: up.printer_get(token=token, printer_id=printer_id))


def _printer_update(
    printer: Printer, found: up.Printer, *, checked: bool = False, shares: list[str] | None = None
) -> None:
    now = timezone.now()
    printer.name = found.display_name[:255] or printer.name
    printer.location = found.location[:500]
    printer.manufacturer = (found.manufacturer or "")[:200]
    printer.model = (found.model or "")[:200]
    printer.has_physical_device = found.has_physical_device
    printer.is_accepting_jobs = found.is_accepting_jobs
    printer.removed_at = None
    if shares is not None:
        printer.share_names = shares
        printer.listed_at = now
    if checked:
        printer.checked_at = now
    printer.save()


def _printer_removed(printer: Printer) -> None:
    if printer.removed_at is not None:
        return
    printer.removed_at = timezone.now()
    printer.trigger_id, printer.trigger_created_at, printer.held_by_app_id = "", None, ""
    printer.save(update_fields=["removed_at", "trigger_id", "trigger_created_at", "held_by_app_id"])
    audit_record(
        tenant=printer.connection.tenant,
        actor=None,
        action="universal_print.printer_removed",
        target=printer,
        details={"printer_id": printer.printer_id},
    )


# --- a Printer Administrator's sign-in: list the printers, make and remove triggers ------------------------------


def _apply(connection: Connection, feature: Feature, sign_in: AdminSignIn, claim: Claim) -> Trouble | None:
    AdminSignIn.objects.filter(pk=sign_in.pk).update(status=SignInStatus.RUNNING)
    try:
        token = credential_access_token(
            tenant=connection.tenant,
            owner_type=SIGN_IN_OWNER_TYPE,
            owner_id=sign_in.pk,
            directory_id=connection.directory_id,
        )
        results = _apply_with(connection, feature, sign_in, token, claim)
    except microsoft_errors.TransientError as exc:
        retry_at = timezone.now() + timedelta(seconds=exc.retry_after or 30)
        AdminSignIn.objects.filter(pk=sign_in.pk).update(status=SignInStatus.QUEUED, retry_at=retry_at)
        return trouble_of(exc, connection=connection, feature=feature, permission="", attempts=1)
    except microsoft_errors.PermissionMissing as exc:
        sign_in_close(sign_in, status=SignInStatus.FAILED, error=_not_a_printer_administrator(sign_in, exc))
        return None
    except (microsoft_errors.MicrosoftError, CredentialError) as exc:
        message = exc.explanation if isinstance(exc, microsoft_errors.MicrosoftError) else str(exc)
        sign_in_close(sign_in, status=SignInStatus.FAILED, error=message)
        return None
    sign_in_close(sign_in, status=SignInStatus.DONE, results=results)
    return None


def _not_a_printer_administrator(sign_in: AdminSignIn, exc: microsoft_errors.MicrosoftError) -> str:
    return (
        f"Microsoft refused to let {sign_in.account or 'the account you signed in with'} manage the printers: "
        "sign in with a Printer Administrator or Global Administrator of the directory (a role only eligible in "
        f"Privileged Identity Management must be activated first). Microsoft said: {exc.explanation}"
    )


def _apply_with(connection: Connection, feature: Feature, sign_in: AdminSignIn, token: str, claim: Claim) -> list[str]:
    listed = up.printers_list(token=token)
    shares = up.shares_list(token=token)
    _printers_record(connection, listed, shares, sign_in)
    results: list[str] = [f"{len(listed)} printer{'s' if len(listed) != 1 else ''} listed."]
    for printer in connection.printers.filter(removed_at__isnull=True).select_related("connection__tenant"):
        triggers = up.task_triggers_list(token=token, printer_id=printer.printer_id)
        _triggers_record(connection, printer, triggers)
        said = _printer_apply(connection, feature, printer, sign_in, token)
        if said:
            results.append(said)
        work_renew(connections_polled(), claim, lease=_lease())
    return results


def _printers_record(
    connection: Connection, listed: list[up.Printer], shares: list[up.PrinterShare], sign_in: AdminSignIn
) -> None:
    names: dict[str, list[str]] = {}
    for share in shares:
        if share.printer_id:
            names.setdefault(share.printer_id.lower(), []).append(share.display_name)
    seen = set()
    for found in listed:
        printer, _created = Printer.objects.get_or_create(
            connection=connection,
            printer_id=found.id,
            defaults={"tenant_id": connection.tenant_id, "name": found.display_name[:255]},
        )
        _printer_update(printer, found, shares=sorted(names.get(found.id.lower(), [])))
        seen.add(printer.pk)
    for gone in connection.printers.filter(removed_at__isnull=True).exclude(pk__in=seen):
        _printer_removed(gone)
    now = timezone.now()
    Connection.objects.filter(pk=connection.pk).update(printers_listed_at=now, printers_listed_by=sign_in.account)
    audit_record(
        actor=sign_in.admin,
        action="universal_print.printers_listed",
        target=connection,
        details={"account": sign_in.account, "printers": len(listed)},
    )


def _triggers_record(connection: Connection, printer: Printer, triggers: list[up.TaskTrigger]) -> None:
    """What is really on the printer: Roger's trigger (its app's), another app's, or none."""
    ours = next((t for t in triggers if (t.app_id or "").lower() == connection.client_id), None)
    other = next((t for t in triggers if t is not ours), None)
    if ours is not None and ours.id != printer.trigger_id:
        # Roger's app put it there (an earlier integration, or a sign-in whose worker died): the printer sends
        # its jobs to Roger now, so it is shown as on.
        printer.trigger_id, printer.trigger_created_at, printer.feeds_roger = ours.id, timezone.now(), True
        if ours.definition_id and not connection.definition_id:
            Connection.objects.filter(pk=connection.pk).update(definition_id=ours.definition_id)
            connection.definition_id = ours.definition_id
    elif ours is None and printer.trigger_id:
        printer.trigger_id, printer.trigger_created_at = "", None  # removed outside Roger
    printer.held_by_app_id = (other.app_id or "unknown") if other is not None and ours is None else ""
    printer.save(update_fields=["trigger_id", "trigger_created_at", "feeds_roger", "held_by_app_id"])


def _printer_apply(connection: Connection, feature: Feature, printer: Printer, sign_in: AdminSignIn, token: str) -> str:
    if printer.feeds_roger and not printer.trigger_id and not printer.held_by_app_id:
        if not feature.enabled:
            return f"{printer.name} was not turned on: Universal Print is disabled on the integration."
        return _turn_on(connection, feature, printer, sign_in, token)
    if not printer.feeds_roger and printer.trigger_id:
        up.task_trigger_delete(token=token, printer_id=printer.printer_id, trigger_id=printer.trigger_id)
        printer.trigger_id, printer.trigger_created_at = "", None
        printer.save(update_fields=["trigger_id", "trigger_created_at"])
        _audit_printer(sign_in, printer, "universal_print.printer_turned_off")
        return f"{printer.name} turned off: its jobs no longer come to Roger."
    if printer.feeds_roger and printer.held_by_app_id:
        return (
            f"{printer.name} sends its jobs to another application ({printer.held_by_app_id}). Remove that "
            "application's task trigger (or stop it taking this printer), then sign in here again."
        )
    return ""


def _turn_on(connection: Connection, feature: Feature, printer: Printer, sign_in: AdminSignIn, token: str) -> str:
    try:
        definition_id = _definition_ensure(connection, feature, sign_in)
    except microsoft_errors.PermissionMissing as exc:  # the app's own permission, not the person's role
        feature_permission_refused(feature=feature, permissions=["PrintTaskDefinition.ReadWrite.All"])
        return f"{printer.name} was not turned on: {exc.explanation}"
    try:
        trigger = up.task_trigger_create(token=token, printer_id=printer.printer_id, definition_id=definition_id)
    except microsoft_errors.PrintOperationRefused as refused:
        printer.held_by_app_id = refused.app_id or "unknown"
        printer.last_error, printer.last_error_at = refused.explanation, timezone.now()
        printer.save(update_fields=["held_by_app_id", "last_error", "last_error_at"])
        _audit_printer(sign_in, printer, "universal_print.printer_held_by_other_app", app_id=printer.held_by_app_id)
        return f"{printer.name} was not turned on: {refused.explanation}"
    printer.trigger_id, printer.trigger_created_at, printer.held_by_app_id = trigger.id, timezone.now(), ""
    printer.save(update_fields=["trigger_id", "trigger_created_at", "held_by_app_id"])
    _audit_printer(sign_in, printer, "universal_print.printer_turned_on", trigger_id=trigger.id)
    return f"{printer.name} turned on: its jobs now come to Roger."


def _definition_ensure(connection: Connection, feature: Feature, sign_in: AdminSignIn) -> str:
    """The app's task definition in the directory, created once (under this connection's claim)."""
    if connection.definition_id:
        return connection.definition_id
    app_id = connection.client_id
    found = with_feature_app_token(feature, lambda token: up.task_definition_find(token=token, app_id=app_id))
    created = found is None
    definition = found or with_feature_app_token(
        feature,
        lambda token: up.task_definition_create(
            token=token, display_name=DEFINITION_NAME, app_display_name=feature.app_registration.display_name
        ),
    )
    Connection.objects.filter(pk=connection.pk).update(
        definition_id=definition.id, definition_created_at=timezone.now()
    )
    connection.definition_id = definition.id
    if created:
        audit_record(
            actor=sign_in.admin,
            action="universal_print.task_definition_created",
            target=connection,
            details={"definition_id": definition.id, "client_id": app_id},
        )
    return definition.id


def _audit_printer(sign_in: AdminSignIn, printer: Printer, action: str, **details: str) -> None:
    audit_record(
        tenant=printer.connection.tenant,
        actor=sign_in.admin,
        action=action,
        target=printer,
        details={"printer_id": printer.printer_id, "account": sign_in.account, **details},
    )


def _lease() -> timedelta:
    return timedelta(seconds=settings.UNIVERSAL_PRINT_LEASE_SECONDS)
