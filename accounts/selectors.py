"""Reads, always scoped to one Roger tenant."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from accounts.models import Tenant, User


def user_list(*, tenant: Tenant) -> QuerySet[User]:
    return User.objects.filter(tenant=tenant)


def tenant_admins(*, tenant: Tenant) -> QuerySet[User]:
    return User.objects.filter(tenant=tenant, role="admin", is_active=True)


def user_by_address(*, tenant: Tenant, email: str) -> User | None:
    """The active user of this tenant who sends from `email`, by primary address or alias."""
    address = email.strip().lower()
    return (
        User.objects.filter(tenant=tenant, is_active=True)
        .filter(Q(email=address) | Q(aliases__email=address))
        .distinct()
        .first()
    )


def user_by_identity(*, tenant: Tenant, directory_id: str, object_id: str) -> User | None:
    """The user (active or not) of this tenant whom the Microsoft identity belongs to: the directory (`tid`) and the
    object id (`oid`) Microsoft signs into tokens and Graph reports. Never a name or an address, which change and
    are reused."""
    if not directory_id.strip() or not object_id.strip():
        return None
    return (
        User.objects.filter(
            tenant=tenant,
            directory_tenant_id__iexact=directory_id.strip(),
            directory_object_id__iexact=object_id.strip(),
        )
        .order_by("pk")
        .first()
    )
