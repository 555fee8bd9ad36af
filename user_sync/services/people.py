"""What User Synchronization asks of `accounts` about a person: deactivate, reactivate, and whether a
deactivation was the sync's (only those are undone when the person comes back)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import QuerySet

from accounts.choices import UserSource
from accounts.models import Tenant, User

SYNC_REASON_PREFIX = "User Synchronization: "


def synced_users(*, tenant: Tenant, directory_id: str) -> QuerySet[User]:
    """The users this directory's sync created or linked: never local users, never another directory's."""
    return User.objects.filter(tenant=tenant, source=UserSource.SYNCED, directory_tenant_id=directory_id)


def deactivated_by_sync(user: User) -> bool:
    return not user.is_active and user.source == UserSource.SYNCED


def users_deactivate(*, users: Sequence[User], reasons: dict[int, str]) -> int:
    """Deactivate synced users (not deleted: their history stays)."""
    ids = [user.pk for user in users if user.is_active]
    return User.objects.filter(pk__in=ids).update(is_active=False)


def users_reactivate(*, users: Sequence[User]) -> int:
    ids = [user.pk for user in users if not user.is_active]
    return User.objects.filter(pk__in=ids).update(is_active=True)
