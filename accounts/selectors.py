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
