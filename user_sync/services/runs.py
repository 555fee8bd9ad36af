"""Starting runs (Sync now, Preview, the daily automatic sync) and the connector's settings.

One sync (or preview) per connector at a time: a partial unique index on the open runs decides, so two requests
racing for it never both start one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit.services import audit_record
from background.claims import work_claim, work_release
from background.kinds import work_queue
from user_sync.choices import RunKind, RunStatus, RunTrigger
from user_sync.models import SyncRun, SyncSettings

if TYPE_CHECKING:
    from accounts.models import User
    from integrations.models import Feature

AUTOMATIC_INTERVAL = timedelta(hours=24)


class RunInProgress(Exception):
    """A sync or preview of this connector is already running: nothing was started."""

    def __init__(self, run: SyncRun) -> None:
        self.run = run
        super().__init__(f"{run.kind.label} #{run.pk} is still running")


class SyncUnavailable(Exception):
    """The connector cannot sync now (feature disabled or gone); the message says why."""


def runs_open() -> QuerySet[SyncRun]:
    return SyncRun.objects.filter(status__in=RunStatus.open())


def automatic_syncs_due() -> QuerySet[SyncSettings]:
    return SyncSettings.objects.filter(auto_sync=True, feature__enabled=True)


def settings_for(feature: Feature) -> SyncSettings:
    """The connector of a User Synchronization feature (made on first use, with the documented defaults)."""
    settings, _ = SyncSettings.objects.get_or_create(
        feature=feature, defaults={"tenant_id": feature.tenant_id, "directory_id": feature.directory_id.lower()}
    )
    if settings.directory_id != feature.directory_id.lower():  # the integration moved to another directory
        SyncSettings.objects.filter(pk=settings.pk).update(
            directory_id=feature.directory_id.lower(), users_delta_link="", groups_delta_link="", links_held=False
        )
        settings.refresh_from_db()
    return settings


def run_start(
    *, settings: SyncSettings, kind: RunKind = RunKind.SYNC, trigger: str = RunTrigger.MANUAL, actor: User | None
) -> SyncRun:
    """Queue a sync or a preview; raises RunInProgress when one runs, SyncUnavailable when it cannot."""
    from user_sync.tasks import run_step_task  # the tasks module imports this one

    feature = settings.feature
    if feature is None or not feature.enabled:
        raise SyncUnavailable("User Synchronization is disabled: enable it on the integration first.")
    open_run = runs_open().filter(settings=settings).first()
    if open_run is not None:
        raise RunInProgress(open_run)
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(
                tenant_id=settings.tenant_id,
                settings=settings,
                kind=kind,
                trigger=trigger,
                requested_by=actor,
                next_attempt_at=timezone.now(),
            )
            audit_record(
                tenant=settings.tenant,
                actor=actor,
                action=f"user_sync.{kind}_started",
                target=run,
                details={"trigger": str(trigger), "directory_id": settings.directory_id},
            )
            work_queue(run_step_task, run.pk)
    except IntegrityError:
        open_run = runs_open().filter(settings=settings).first()
        if open_run is None:
            raise
        raise RunInProgress(open_run) from None
    return run


def automatic_sync_start(*, settings_id: int) -> str:
    """The daily sync, when due (the sweep queues it): a run, and the next one 24 hours later."""
    claim = work_claim(automatic_syncs_due(), settings_id, lease=timedelta(minutes=5))
    if claim is None:
        return "skipped"
    settings = SyncSettings.objects.select_related("feature", "tenant").get(pk=settings_id)
    outcome = "started"
    try:
        run_start(settings=settings, trigger=RunTrigger.AUTOMATIC, actor=None)
    except RunInProgress:
        outcome = "already running"
    except SyncUnavailable:
        outcome = "unavailable"
    finally:
        work_release(SyncSettings.objects.all(), claim, next_attempt_at=timezone.now() + AUTOMATIC_INTERVAL, attempts=0)
    return outcome


def next_automatic_sync(settings: SyncSettings) -> object:
    return settings.next_attempt_at if settings.auto_sync else None
