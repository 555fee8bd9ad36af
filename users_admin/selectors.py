"""Reads of Administration > Users, always within one Roger tenant."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from accounts.models import Alias, Group, Tenant, User
from users_admin.models import UserImport, UserImportRow


def users_search(*, tenant: Tenant, query: str = "", state: str = "") -> QuerySet[User]:
    """The tenant's users in email order, narrowed to those whose email, name or an alias starts with `query`
    (any case). Each is a LIKE 'prefix%' on an indexed column (see accounts.models), so a page stays fast at
    100,000 users."""
    users = User.objects.filter(tenant=tenant)
    prefix = query.strip().lower()
    if prefix:
        aliases = Alias.objects.filter(tenant=tenant, name_lower__startswith=prefix).values("user_id")
        users = users.filter(Q(email__startswith=prefix) | Q(full_name_lower__startswith=prefix) | Q(pk__in=aliases))
    if state == "deactivated":
        users = users.filter(is_active=False)
    elif state == "active":
        users = users.filter(is_active=True)
    return users.order_by("email", "pk")


def users_for_page(users: QuerySet[User]) -> QuerySet[User]:
    """What one page of the list shows about each user, in a fixed number of queries."""
    return users.select_related("cost_center").prefetch_related(
        Prefetch("sign_in_aliases", queryset=Alias.objects.order_by("name")),
        Prefetch("groups", queryset=Group.objects.order_by("name")),
    )


def user_of_tenant(*, tenant: Tenant, pk: int) -> User | None:
    return User.objects.filter(tenant=tenant, pk=pk).first()


def imports_recent(*, tenant: Tenant) -> QuerySet[UserImport]:
    return UserImport.objects.filter(tenant=tenant).select_related("created_by")[:10]  # type: ignore[return-value]


def import_of_tenant(*, tenant: Tenant, pk: int) -> UserImport | None:
    return UserImport.objects.filter(tenant=tenant, pk=pk).first()


def import_rows(*, user_import: UserImport, phase: str, action: str = "") -> QuerySet[UserImportRow]:
    rows = user_import.rows.filter(phase=phase)
    return rows.filter(action=action) if action else rows.order_by("number")
