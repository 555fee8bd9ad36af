"""Reads of notifications, scoped to a Roger tenant."""

from __future__ import annotations

from typing import TYPE_CHECKING

from notifications.models import AdminNotification

if TYPE_CHECKING:
    from accounts.models import Tenant

__all__ = ["notification_keys"]


def notification_keys(*, tenant: Tenant, prefix: str) -> list[str]:
    """The keys of the problems the tenant's admins have been told about, among those starting with `prefix`."""
    return list(AdminNotification.objects.filter(tenant=tenant, key__startswith=prefix).values_list("key", flat=True))
