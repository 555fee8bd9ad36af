"""Reads of User Synchronization, always scoped to a Roger tenant (another tenant's objects are 404)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse

from health import Health
from integrations.choices import FeatureType
from integrations.selectors import features_of_type
from user_sync.choices import DeactivationState, RunStatus
from user_sync.models import Deactivation, SyncChange, SyncRun, SyncSettings
from user_sync.services.people import synced_users

if TYPE_CHECKING:
    from accounts.models import Tenant
    from integrations.models import Feature

HISTORY_LENGTH = 20


def user_sync_features(*, tenant: Tenant) -> QuerySet[Feature]:
    return features_of_type(tenant=tenant, feature_type=FeatureType.USER_SYNC)


def settings_get(*, tenant: Tenant, pk: int) -> SyncSettings:
    return get_object_or_404(
        SyncSettings.objects.select_related("feature__integration", "feature__app_registration", "tenant"),
        tenant=tenant,
        pk=pk,
    )


def run_get(*, tenant: Tenant, pk: int) -> SyncRun:
    return get_object_or_404(SyncRun.objects.select_related("settings__feature__integration"), tenant=tenant, pk=pk)


def run_changes(run: SyncRun, *, action: str = "") -> QuerySet[SyncChange]:
    changes = run.changes.select_related("user")
    return changes.filter(action=action) if action else changes


def pending_deactivations(settings: SyncSettings) -> QuerySet[Deactivation]:
    return settings.deactivations.filter(state=DeactivationState.PENDING, user__is_active=True).select_related("user")


def kept_users(settings: SyncSettings) -> QuerySet[Deactivation]:
    return settings.deactivations.filter(state=DeactivationState.KEPT).select_related("user")


def current_run(settings: SyncSettings) -> SyncRun | None:
    return settings.runs.filter(status__in=RunStatus.open()).first()


def last_run(settings: SyncSettings, *, preview: bool = False) -> SyncRun | None:
    runs = settings.runs.exclude(status__in=RunStatus.open())
    return runs.filter(kind="preview" if preview else "sync").first()


def connector_health(settings: SyncSettings) -> Health:
    return _health(settings, current_run(settings))


def _health(settings: SyncSettings, run: SyncRun | None) -> Health:
    """The connector's health while `run` is in progress (None: none is)."""
    feature = settings.feature
    page = reverse("user_sync:page")
    if feature is None:
        return Health.off("Integration deleted", "The users it synchronized are kept, marked as no longer synced.")
    if not feature.enabled:
        return Health.off("Disabled", "User Synchronization is disabled on the integration.")
    if run is not None and run.status in (RunStatus.WAITING, RunStatus.RETRYING):
        return Health.retrying(cause=run.error, since=run.started_at, next_try=run.next_attempt_at)
    if run is not None:
        return Health.working("Synchronizing", f"{run.pages} pages read, {run.users_seen} users processed.")
    pending = pending_deactivations(settings).count()
    if pending:
        return Health.needs_action(
            "Deactivations held",
            reason=f"{pending} users would be deactivated, more than the safety threshold allows.",
            fix="Confirm or keep them on the User Synchronization page.",
            fix_url=page,
            fix_label="Review",
            still_works=True,
        )
    last = last_run(settings)
    if last is None:
        return Health.off("Not synchronized yet", "Use Sync now, or turn on Synchronize automatically.")
    if last.status == RunStatus.FAILED:
        fix_url = reverse("integrations:detail", args=[feature.integration_id])
        return Health.needs_action(
            "Last sync failed", reason=last.error, fix_url=fix_url, fix_label="Open the integration"
        )
    return Health.ok("Synchronized", f"Last sync {last.finished_at:%Y-%m-%d %H:%M} UTC.")


def user_sync_attention(tenant: Tenant) -> Iterable[Health]:
    for settings in SyncSettings.objects.filter(tenant=tenant, feature__isnull=False).select_related("feature"):
        yield connector_health(settings).about("User Synchronization")


@dataclass
class ConnectorView:
    feature: Feature
    settings: SyncSettings
    health: Health
    run: SyncRun | None
    last: SyncRun | None
    last_preview: SyncRun | None
    history: list[SyncRun] = field(default_factory=list)
    pending: list[Deactivation] = field(default_factory=list)
    pending_count: int = 0
    kept: list[Deactivation] = field(default_factory=list)
    form: Any = None
    status_live: Any = None


def connector_view(settings: SyncSettings) -> ConnectorView:
    assert settings.feature is not None
    # The health and the run in progress from one read: a run ending between two reads would otherwise show as
    # in progress in the health while the live status, seeing none, stops following it.
    run = current_run(settings)
    pending = pending_deactivations(settings)
    return ConnectorView(
        feature=settings.feature,
        settings=settings,
        health=_health(settings, run),
        run=run,
        last=last_run(settings),
        last_preview=last_run(settings, preview=True),
        history=list(settings.runs.select_related("requested_by")[:HISTORY_LENGTH]),
        pending=list(pending[:200]),
        pending_count=pending.count(),
        kept=list(kept_users(settings)[:200]),
    )


def stopped_connectors(*, tenant: Tenant) -> list[SyncSettings]:
    """The tenant's connectors whose feature is gone or disabled: they no longer synchronize."""
    connectors = SyncSettings.objects.filter(tenant=tenant).select_related("feature")
    return [s for s in connectors if s.feature is None or not s.feature.enabled]


def stopped_users(settings: SyncSettings) -> int:
    """Active users a stopped connector brought (kept, no longer synchronized)."""
    return synced_users(tenant=settings.tenant, directory_id=settings.directory_id).filter(is_active=True).count()
