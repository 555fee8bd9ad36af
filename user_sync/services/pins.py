"""PIN emails: the users a sync created get a printer PIN by email, through the tenant's outgoing queue (which
paces it within the tenant's rate limit). A first sync that would send more than `pin_email_ask_above` asks an
admin first.

Each batch is its own task; a user's PIN is set by a conditional UPDATE (only while they have none), and only the
worker whose UPDATE changed the row sends the email, so a redelivered task never sends a second PIN.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from django.db.models import F, QuerySet

from accounts.mail import tenant_mail_send
from accounts.services import user_first_pin_give
from audit.services import audit_record
from background.kinds import work_queue
from user_sync.models import SyncRun
from user_sync.services import people

if TYPE_CHECKING:
    from accounts.models import User

BATCH = 50
PIN_DIGITS = 6


def new_users_without_pin(run: SyncRun) -> QuerySet[User]:
    """The users this run created who have no PIN yet."""
    assert run.started_at is not None
    return people.synced_users(tenant=run.tenant, directory_id=run.settings.directory_id).filter(
        date_joined__gte=run.started_at, pin_hash="", is_active=True
    )


def pin_emails_plan(run: SyncRun) -> int:
    """At the end of a sync: queue the PIN emails, or hold them for an admin (a first sync above the bound).
    Returns how many wait for the admin."""
    from user_sync.tasks import pin_emails_task  # the tasks module imports this one

    settings = run.settings
    if not settings.send_pin_email or run.is_preview:
        return 0
    count = new_users_without_pin(run).count()
    if not count:
        return 0
    first = not settings.runs.filter(kind="sync", status__in=("succeeded", "held")).exclude(pk=run.pk).exists()
    if first and count > settings.pin_email_ask_above:
        SyncRun.objects.filter(pk=run.pk).update(pin_emails_waiting=count)
        return count
    work_queue(pin_emails_task, run.pk)
    return 0


def pin_emails_confirm(*, run: SyncRun, actor: User) -> int:
    from user_sync.tasks import pin_emails_task  # the tasks module imports this one

    waiting = run.pin_emails_waiting
    SyncRun.objects.filter(pk=run.pk).update(pin_emails_waiting=0)
    audit_record(
        tenant=run.tenant, actor=actor, action="user_sync.pin_emails_confirmed", target=run, details={"count": waiting}
    )
    work_queue(pin_emails_task, run.pk)
    return waiting


def pin_emails_send(*, run_id: int) -> int:
    """One batch: a PIN for each user still without one, emailed to them; the next batch is queued."""
    from user_sync.tasks import pin_emails_task  # the tasks module imports this one

    run = SyncRun.objects.select_related("tenant", "settings").get(pk=run_id)
    if run.pin_emails_waiting:
        return 0
    sent = 0
    batch = list(new_users_without_pin(run).order_by("pk")[:BATCH])
    for user in batch:
        pin = "".join(secrets.choice("0123456789") for _ in range(PIN_DIGITS))
        if not user_first_pin_give(user=user, pin=pin):
            continue  # another worker gave this user a PIN
        tenant_mail_send(
            tenant=run.tenant,
            subject="Your printer PIN",
            body=(
                f"Hello {user.full_name or user.email},\n\nYou can now print with Roger. Your printer PIN is {pin}.\n"
                "Use it to sign in at a printer. You can change it in the Roger portal under My Settings.\n"
            ),
            to=[user.email],
        )
        sent += 1
    if sent:
        SyncRun.objects.filter(pk=run.pk).update(pin_emails=F("pin_emails") + sent)
    if len(batch) == BATCH:
        work_queue(pin_emails_task, run.pk)
    return sent
