"""User Synchronization follows its feature (integrations.signals): turning it off or deleting the integration
keeps the users it brought, marked as no longer synced, and offers to deactivate them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.dispatch import receiver

from integrations.choices import FeatureType
from integrations.signals import feature_disabled, feature_enabled, integration_delete_warnings, integration_deleting
from user_sync.models import SyncSettings
from user_sync.services import people
from user_sync.services.connector import next_sync_after_enable, sync_stopped

if TYPE_CHECKING:
    from integrations.models import Feature, Integration


def _is_user_sync(feature: Feature) -> bool:
    return feature.feature_type == FeatureType.USER_SYNC


@receiver(feature_enabled)
def _sync_resumes(sender: Any, *, feature: Feature, **kwargs: Any) -> None:
    if _is_user_sync(feature):
        for settings in SyncSettings.objects.filter(feature=feature):
            next_sync_after_enable(settings)


@receiver(feature_disabled)
def _sync_stops(sender: Any, *, feature: Feature, **kwargs: Any) -> str:
    if not _is_user_sync(feature):
        return ""
    said = [
        sync_stopped(settings=s, why="User Synchronization was disabled")
        for s in SyncSettings.objects.filter(feature=feature)
    ]
    return " ".join(s for s in said if s)


@receiver(integration_delete_warnings)
def _users_stay(sender: Any, *, integration: Integration, **kwargs: Any) -> str:
    settings = SyncSettings.objects.filter(feature__integration=integration).first()
    if settings is None:
        return ""
    count = (
        people.synced_users(tenant=settings.tenant, directory_id=settings.directory_id).filter(is_active=True).count()
    )
    if not count:
        return ""
    return (
        f"User Synchronization brought {count} users from this directory. They are kept (active) and no longer "
        "synchronized; you can deactivate them afterwards on the User Synchronization page."
    )


@receiver(integration_deleting)
def _sync_ends(sender: Any, *, integration: Integration, **kwargs: Any) -> str:
    said = []
    for settings in SyncSettings.objects.filter(feature__integration=integration):
        said.append(sync_stopped(settings=settings, why="the integration was deleted"))
    return " ".join(s for s in said if s)
