"""Reads, always scoped to one Roger tenant."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import BooleanField, F, Prefetch, QuerySet, Value, prefetch_related_objects
from django.db.models.functions import Lower

from accounts.choices import UserSource
from accounts.lookups import AnyOf
from accounts.models import Alias, CostCenter, EmailAlias, Group, GroupMembership, Tenant, User


def tenant_by_id(*, pk: int) -> Tenant | None:
    return Tenant.objects.filter(pk=pk).first()


def tenant_by_name(*, name: str) -> Tenant | None:
    """The tenant of a tenancy name as typed (names are kept in lower case)."""
    return Tenant.objects.filter(name=name.strip().lower()).first()


def tenants_by_ids(*, ids: Iterable[int]) -> QuerySet[Tenant]:
    return Tenant.objects.filter(pk__in=list(ids))


def user_list(*, tenant: Tenant) -> QuerySet[User]:
    return User.objects.filter(tenant=tenant)


def users_by_ids(*, ids: Iterable[int]) -> QuerySet[User]:
    return User.objects.filter(pk__in=list(ids))


def users_synced(*, tenant: Tenant, directory_id: str) -> QuerySet[User]:
    """The users a directory's synchronization created or linked: never local users, never another directory's."""
    return User.objects.filter(tenant=tenant, source=UserSource.SYNCED, directory_tenant_id=directory_id)


def alias_list(*, tenant: Tenant) -> QuerySet[Alias]:
    """The tenant's sign-in aliases (`name_lower` is indexed with the tenant for prefix and IN lookups)."""
    return Alias.objects.filter(tenant=tenant)


def users_with_aliases_and_groups(users: QuerySet[User]) -> QuerySet[User]:
    """`users` with their cost center joined and their sign-in aliases and groups prefetched, each by name: a page
    of users in three queries whatever its size."""
    return users.select_related("cost_center").prefetch_related(
        Prefetch("sign_in_aliases", queryset=Alias.objects.order_by("name")),
        Prefetch("groups", queryset=Group.objects.order_by("name")),
    )


def tenant_admins(*, tenant: Tenant) -> QuerySet[User]:
    return User.objects.filter(tenant=tenant, role="admin", is_active=True)


def user_by_email(*, tenant: Tenant, email: str) -> User | None:
    """The user (active or not) whose primary address is `email`."""
    return User.objects.filter(tenant=tenant, email=email.strip().lower()).first()


def user_by_address(*, tenant: Tenant, email: str) -> User | None:
    """The active user of this tenant who sends from `email`, by primary address or alias."""
    address = email.strip().lower()
    # Two lookups on the tenant's unique indexes of lower(email) (users', then aliases'): one query with an OR
    # across the aliases' join could use neither, and read every user of the tenant for each message mailed in.
    user = User.objects.alias(address=Lower("email")).filter(tenant=tenant, is_active=True, address=address).first()
    if user is not None:
        return user
    alias = (
        EmailAlias.objects.alias(address=Lower("email"))
        .filter(tenant=tenant, address=address, user__is_active=True)
        .select_related("user")
        .first()
    )
    return alias.user if alias is not None else None


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


# --- a directory's rows, for its synchronization's pages (one query each, whatever a page holds) ------------------


def users_by_identities(*, tenant: Tenant, directory_id: str, object_ids: Iterable[str]) -> QuerySet[User]:
    """The tenant's users linked to these identities of the directory."""
    return User.objects.filter(
        AnyOf(F("directory_object_id"), object_ids), tenant=tenant, directory_tenant_id=directory_id
    ).exclude(directory_object_id="")  # the identity index is partial: its condition lets PostgreSQL use it


def users_by_emails(*, tenant: Tenant, emails: Iterable[str]) -> QuerySet[User]:
    return User.objects.filter(AnyOf(F("email"), emails), tenant=tenant)


def users_by_identities_and_emails(
    *, tenant: Tenant, directory_id: str, object_ids: Iterable[str], emails: Iterable[str], cost_centers: bool = False
) -> tuple[list[User], list[User]]:
    """The tenant's users linked to these identities of the directory, and its users with these addresses, read by
    one statement (UNION ALL of `users_by_identities` and `users_by_emails`, each half on its own index, told apart
    by a constant column): a page of User Synchronization needs both, and on a loaded machine the round trip of a
    second statement cost more than either lookup's execution (0.6-0.9 ms at 100,000 users). Not one WHERE with
    identity OR address: PostgreSQL planned that as a sequential scan of the users. `cost_centers`: the first list's
    cost centers read too (one more statement, only then)."""
    found_by = "_found_by_identity"
    by_identity = (
        users_by_identities(tenant=tenant, directory_id=directory_id, object_ids=object_ids)
        .annotate(**{found_by: Value(True, output_field=BooleanField())})
        .order_by()
    )
    by_email = (
        users_by_emails(tenant=tenant, emails=emails)
        .annotate(**{found_by: Value(False, output_field=BooleanField())})
        .order_by()
    )
    identified: list[User] = []
    addressed: list[User] = []
    for user in by_identity.union(by_email, all=True):
        (identified if getattr(user, found_by) else addressed).append(user)
    if cost_centers and identified:
        prefetch_related_objects(identified, "cost_center")
    return identified, addressed


def aliases_of_users(*, user_ids: Iterable[int]) -> QuerySet[Alias]:
    return Alias.objects.filter(user_id__in=list(user_ids))


def cost_centers_named(*, tenant: Tenant, names: set[str]) -> dict[str, int]:
    """The tenant's own cost centers (not a directory's) of these names, by lower-cased name."""
    lowered = {name.lower() for name in names}
    return {
        name.lower(): pk
        for pk, name in CostCenter.objects.filter(tenant=tenant, directory_object_id="")
        .annotate(lowered=Lower("name"))
        .filter(lowered__in=lowered)
        .values_list("pk", "name")
    }


def directory_cost_centers(*, tenant: Tenant, directory_id: str, object_ids: Iterable[str]) -> QuerySet[CostCenter]:
    return CostCenter.objects.filter(
        tenant=tenant, directory_tenant_id=directory_id, directory_object_id__in=object_ids
    ).exclude(directory_object_id="")


def directory_groups(*, tenant: Tenant, directory_id: str, object_ids: Iterable[str]) -> QuerySet[Group]:
    return Group.objects.filter(tenant=tenant, directory_tenant_id=directory_id, directory_object_id__in=object_ids)


def memberships_of_users(
    *, user_ids: Iterable[int], directory_id: str, object_id_prefix: str
) -> QuerySet[GroupMembership]:
    """The users' memberships of the directory's groups whose object id starts with the prefix."""
    return GroupMembership.objects.filter(
        user_id__in=list(user_ids),
        group__directory_tenant_id=directory_id,
        group__directory_object_id__startswith=object_id_prefix,
    )
