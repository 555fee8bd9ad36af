"""The connector's settings, the deactivations an admin confirms or keeps, and what happens when the feature is
turned off or its integration deleted."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from accounts.choices import Role
from accounts.services import IdentityTaken, user_identity_link, user_lock
from audit.services import audit_record
from microsoft.graph import graph_url
from user_sync.choices import DeactivationState
from user_sync.models import Deactivation, SyncChange, SyncRun, SyncSettings
from user_sync.services import people
from user_sync.services.calls import listed
from user_sync.services.engine import deactivations_apply
from user_sync.services.runs import AUTOMATIC_INTERVAL

if TYPE_CHECKING:
    from accounts.models import User
    from integrations.models import Feature

# Graph lists at most 15 ids in one `id in (...)` filter; these are few, typed by an admin.
_IDS_PER_CALL = 15


def unknown_groups(*, feature: Feature, group_ids: list[str]) -> list[str]:
    """The ids among `group_ids` that are not groups of the directory (one Graph call per 15 ids).

    Raises microsoft.errors.MicrosoftError (or CredentialError) when the directory cannot be asked."""
    found: set[str] = set()
    for start in range(0, len(group_ids), _IDS_PER_CALL):
        chunk = group_ids[start : start + _IDS_PER_CALL]
        url = graph_url("/groups", select=["id"], filter=" or ".join(f"id eq '{g}'" for g in chunk))
        found |= {str(g["id"]).lower() for g in listed(feature, url)}
    return [g for g in group_ids if g not in found]


def settings_save(*, settings: SyncSettings, data: dict[str, Any], actor: User) -> SyncSettings:
    before = {name: getattr(settings, name) for name in data}
    turned_on = data.get("auto_sync") and not settings.auto_sync
    for name, value in data.items():
        setattr(settings, name, value)
    now = timezone.now()
    if turned_on:
        settings.auto_sync_since = now
        settings.next_attempt_at = now + AUTOMATIC_INTERVAL
    elif not settings.auto_sync:
        settings.auto_sync_since, settings.next_attempt_at = None, None
    with transaction.atomic():
        settings.save()
        changed = {name: str(value) for name, value in data.items() if before[name] != value}
        audit_record(
            actor=actor,
            action="user_sync.settings_saved",
            target=settings,
            details={"changed": changed},
        )
    return settings


def deactivations_confirm(*, settings: SyncSettings, actor: User) -> int:
    """The admin confirms the held deactivations: they are applied, and the held delta links are let go."""
    with transaction.atomic():
        rows = list(
            Deactivation.objects.select_for_update()
            .filter(settings=settings, state=DeactivationState.PENDING)
            .select_related("user")
        )
        count = deactivations_apply(run=settings.runs.filter(status="held").first(), rows=rows, actor=actor)
        _deactivations_decided(settings, actor, "user_sync.deactivations_confirmed", [row.user.email for row in rows])
    return count


def deactivations_keep(*, settings: SyncSettings, actor: User, user_ids: Iterable[int] | None = None) -> int:
    """The admin keeps the held users active: marked "kept by" them, and not proposed again."""
    with transaction.atomic():
        rows = Deactivation.objects.filter(settings=settings, state=DeactivationState.PENDING)
        if user_ids is not None:
            rows = rows.filter(user_id__in=list(user_ids))
        emails = list(rows.values_list("user__email", flat=True))
        count = rows.update(state=DeactivationState.KEPT, decided_by=actor.email, decided_at=timezone.now())
        _deactivations_decided(settings, actor, "user_sync.deactivations_kept", emails)
    return count


def _deactivations_decided(settings: SyncSettings, actor: User, action: str, emails: list[str]) -> None:
    """Once no held deactivation waits for an admin, the delta links are let go (the next sync moves on from
    them); the decision goes to the audit trail."""
    if not Deactivation.objects.filter(settings=settings, state=DeactivationState.PENDING).exists():
        SyncSettings.objects.filter(pk=settings.pk).update(links_held=False)
    audit_record(actor=actor, action=action, target=settings, details={"users": emails})


def sync_stopped(*, settings: SyncSettings, why: str) -> str:
    """Turned off or integration deleted: the users stay, marked as no longer synced; the open run stops."""
    now = timezone.now()
    SyncSettings.objects.filter(pk=settings.pk).update(stopped_at=now, next_attempt_at=None)
    SyncRun.objects.filter(settings=settings, status__in=("queued", "running", "waiting", "retrying")).update(
        status="failed", finished_at=now, next_attempt_at=None, error=f"Stopped: {why}."
    )
    count = (
        people.synced_users(tenant=settings.tenant, directory_id=settings.directory_id).filter(is_active=True).count()
    )
    audit_record(action="user_sync.stopped", target=settings, details={"why": why})
    if not count:
        return ""
    return (
        f"The {count} users User Synchronization brought from this directory are kept and no longer synchronized. "
        "Deactivate them on the User Synchronization page if they should no longer print."
    )


def stopped_users_deactivate(*, settings: SyncSettings, actor: User) -> int:
    users = list(people.synced_users(tenant=settings.tenant, directory_id=settings.directory_id).filter(is_active=True))
    reasons = {u.pk: "User Synchronization was turned off" for u in users}
    people.users_deactivate(users=users, reasons=reasons, actor=actor)
    audit_record(
        actor=actor,
        action="user_sync.stopped_users_deactivated",
        target=settings,
        details={"count": len(users)},
    )
    return len(users)


def next_sync_after_enable(settings: SyncSettings) -> None:
    if settings.auto_sync:
        SyncSettings.objects.filter(pk=settings.pk).update(
            stopped_at=None, next_attempt_at=timezone.now() + AUTOMATIC_INTERVAL
        )
    else:
        SyncSettings.objects.filter(pk=settings.pk).update(stopped_at=None)


class LinkRefused(Exception):
    """The admin account cannot be linked (already linked, or the identity is another user's)."""


def admin_link_confirm(*, change: SyncChange, actor: User) -> User:
    """An admin confirms that the directory user of a conflict is this Roger admin account: it is linked
    (`accounts.services.user_identity_link`, as synced: the next sync keeps it up to date). A sync never does this
    by itself."""
    if change.user_id is None:
        raise LinkRefused("The conflict names no Roger user.")
    with transaction.atomic():
        user = user_lock(tenant_id=change.run.tenant_id, pk=change.user_id)
        directory = change.run.settings.directory_id
        if user.role != Role.ADMIN or user.directory_object_id:
            raise LinkRefused(f"{user.email} is not an unlinked admin account.")
        try:
            return user_identity_link(
                user=user, directory_id=directory, object_id=change.object_id, actor=actor, synced=True
            )
        except IdentityTaken:
            raise LinkRefused("Another Roger user is already linked to this directory user.") from None
