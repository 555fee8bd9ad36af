"""The connection of a Universal Print feature, the admin's printer choices, and telling the admins when jobs
wait in Universal Print because Roger cannot take them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from audit.services import audit_record
from background.kinds import work_queue
from notifications.services import admins_notification_clear, admins_notify
from ui.links import portal_url
from universal_print.models import Connection, Printer
from universal_print.selectors import printers_left_waiting, why_jobs_wait

if TYPE_CHECKING:
    from integrations.models import Feature
    from print_jobs.models import Queue


def connection_for(feature: Feature) -> Connection:
    """The connection of the feature's directory and app, made on first use and taken back by the feature when
    it was left by an earlier one (an integration deleted and added again with the same app). A connection of
    another app that the feature held before is let go: that app's triggers are not this app's to manage."""
    client_id = feature.app_registration.client_id.lower()
    directory_id = feature.directory_id.lower()
    with transaction.atomic():
        Connection.objects.filter(feature=feature).exclude(directory_id=directory_id, client_id=client_id).update(
            feature=None
        )
        connection, _ = Connection.objects.select_for_update().get_or_create(
            tenant_id=feature.tenant_id, directory_id=directory_id, client_id=client_id, defaults={"feature": feature}
        )
        if connection.feature_id != feature.pk:
            connection.feature = feature
            connection.save(update_fields=["feature"])
    connection.feature = feature
    return connection


def connection_wake(connection: Connection) -> None:
    """Look at the connection now (Check now, a sign-in to apply, the feature enabled): due at once, unless
    Microsoft asked Roger to wait (Retry-After), then at that time."""
    from universal_print.tasks import connection_tick_task  # the tasks module imports this one

    now = timezone.now()
    due = max(now, connection.throttled_until) if connection.throttled_until else now
    Connection.objects.filter(pk=connection.pk).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__gt=due)
    ).update(next_attempt_at=due)
    work_queue(connection_tick_task, connection.pk, eta=due if due > now else None)


@dataclass(frozen=True)
class PrinterChoice:
    """What the admin chose for one printer on the page."""

    printer: Printer
    feeds_roger: bool
    queue: Queue | None


def printer_choices_save(*, connection: Connection, choices: Iterable[PrinterChoice]) -> int:
    """Store which printers feed Roger and their queues; returns how many printers now wait for a Printer
    Administrator's sign-in (task triggers are made and removed only in such a sign-in)."""
    changed = []
    with transaction.atomic():
        for choice in choices:
            printer = Printer.objects.select_for_update().get(pk=choice.printer.pk, connection=connection)
            queue_id = choice.queue.pk if choice.queue else None
            if (printer.feeds_roger, printer.queue_id) == (choice.feeds_roger, queue_id):
                continue
            printer.feeds_roger, printer.queue_id = choice.feeds_roger, queue_id
            printer.save(update_fields=["feeds_roger", "queue"])
            changed.append(
                {"printer": printer.name, "feeds_roger": choice.feeds_roger, "queue": str(choice.queue or "")}
            )
        if changed:
            audit_record(
                action="universal_print.printers_chosen",
                target=connection,
                details={"printers": changed},
            )
        connection_waiting_check(connection)
    return sum(1 for p in connection.printers.all() if p.change_pending)


# --- jobs that wait in Universal Print -------------------------------------------------------------------------


def _notification_key(connection: Connection) -> str:
    return f"universal_print:{connection.pk}:jobs_wait"


def connection_waiting_check(connection: Connection) -> str:
    """When the connection cannot take jobs although printers send it theirs (their triggers are Roger's), the
    admins are told once (email) and the dashboard says it until it is fixed; returns the sentence, or "" when
    nothing waits (and a problem told earlier is cleared, so a recurrence is told again)."""
    # Read afresh: the caller's feature may be older than what it just recorded (a lost consent).
    connection = Connection.objects.select_related("tenant", "feature__app_registration").get(pk=connection.pk)
    printers = printers_left_waiting(connection)
    waiting = why_jobs_wait(connection)
    key = _notification_key(connection)
    if not printers or waiting is None:
        admins_notification_clear(tenant=connection.tenant, key=key)
        return ""
    why, fix = waiting
    names = ", ".join(f"“{p.windows_name}”" for p in printers)
    sentence = (
        f"Universal Print: jobs sent to {names} now wait in Universal Print and are not printed, because {why}. {fix}"
    )
    url = portal_url(reverse("universal_print:page"))
    told = admins_notify(
        tenant=connection.tenant,
        key=key,
        subject=f"Universal Print: jobs wait on {len(printers)} printer{'s' if len(printers) != 1 else ''}"[:200],
        body=f"{sentence}\n\nUniversal Print in Roger: {url}\n",
    )
    if told:
        audit_record(
            actor=None,
            action="universal_print.jobs_wait_warned",
            target=connection,
            details={"printers": [p.name for p in printers], "why": why},
        )
    return sentence
