"""Reads of Administration > Users, always within one Roger tenant."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet

from accounts.selectors import alias_list, user_list, users_with_aliases_and_groups
from users_admin.models import UserImport, UserImportRow

if TYPE_CHECKING:
    from accounts.models import Tenant, User

# A search matching at most this many users is answered from the ids the three prefix indexes give; one matching
# more walks the email index with the three conditions, where 50 matches come soon.
SPARSE_MATCHES = 1000


def users_search(*, tenant: Tenant, query: str = "", state: str = "") -> QuerySet[User]:
    """The tenant's users in email order, narrowed to those whose email, name or an alias starts with `query`
    (any case). Each condition is a LIKE 'prefix%' on its own indexed column (see accounts.models); PostgreSQL cannot
    combine an OR of them with the alias subquery into index scans, so the ids are first read from the three indexes
    (a UNION ALL that stops at SPARSE_MATCHES + 1 rows): a narrow search is then a lookup by id, a broad one a walk
    of the email index that finds a page of matches early. Either costs milliseconds at 100,000 users."""
    users = user_list(tenant=tenant)
    if state == "deactivated":
        users = users.filter(is_active=False)
    elif state == "active":
        users = users.filter(is_active=True)
    prefix = query.strip().lower()
    if prefix:
        by_email = user_list(tenant=tenant).filter(email__startswith=prefix).order_by().values_list("pk")
        by_name = user_list(tenant=tenant).filter(full_name_lower__startswith=prefix).order_by().values_list("pk")
        aliases = alias_list(tenant=tenant).filter(name_lower__startswith=prefix).order_by()
        ids = {pk for (pk,) in by_email.union(by_name, aliases.values_list("user_id"), all=True)[: SPARSE_MATCHES + 1]}
        if len(ids) <= SPARSE_MATCHES:
            users = users.filter(pk__in=ids)
        else:
            users = users.filter(
                Q(email__startswith=prefix)
                | Q(full_name_lower__startswith=prefix)
                | Q(pk__in=aliases.values("user_id"))
            )
    return users.order_by("email", "pk")


def users_count(users: QuerySet[User], *, cap: int | None = None) -> tuple[int, bool]:
    """How many users `users` holds, counted up to `cap` (a broad search need not count 100,000 rows to say "more
    than 1,000"); the second value says whether there are more."""
    if cap is None:
        return users.count(), False
    counted = users.order_by()[: cap + 1].count()
    return min(counted, cap), counted > cap


def users_for_page(users: QuerySet[User]) -> QuerySet[User]:
    """What one page of the list shows about each user, in a fixed number of queries."""
    return users_with_aliases_and_groups(users)


def user_of_tenant(*, tenant: Tenant, pk: int) -> User | None:
    return user_list(tenant=tenant).filter(pk=pk).first()


def imports_recent(*, tenant: Tenant) -> QuerySet[UserImport]:
    return UserImport.objects.filter(tenant=tenant).select_related("created_by")[:10]  # type: ignore[return-value]


def import_of_tenant(*, tenant: Tenant, pk: int) -> UserImport | None:
    return UserImport.objects.filter(tenant=tenant, pk=pk).first()


def import_rows(*, user_import: UserImport, phase: str, action: str = "") -> QuerySet[UserImportRow]:
    rows = user_import.rows.filter(phase=phase)
    return rows.filter(action=action) if action else rows.order_by("number")
