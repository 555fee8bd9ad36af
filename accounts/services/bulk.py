"""Bulk writes of users, groups, cost centers, aliases and memberships for a directory synchronization (User
Synchronization writes a page of a directory at a time): a constant number of statements whatever a page holds."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from accounts.models import CostCenter, Group, Tenant


def directory_cost_centers_save(*, tenant: Tenant, directory_id: str, names: Mapping[str, str]) -> None:
    """The directory's cost centers are `names` (object id -> name): missing ones created, renamed ones renamed,
    the others deleted (their users' assignment goes with them)."""
    existing = {
        c.directory_object_id: c for c in CostCenter.objects.filter(tenant=tenant, directory_tenant_id=directory_id)
    }
    CostCenter.objects.bulk_create(
        [
            CostCenter(tenant=tenant, name=name, directory_tenant_id=directory_id, directory_object_id=oid)
            for oid, name in names.items()
            if oid not in existing
        ]
    )
    renamed = [c for oid, c in existing.items() if oid in names and c.name != names[oid]]
    for center in renamed:
        center.name = names[center.directory_object_id]
    CostCenter.objects.bulk_update(renamed, ["name"])
    CostCenter.objects.filter(pk__in=[c.pk for oid, c in existing.items() if oid not in names]).delete()


def directory_groups_prune(
    *, tenant: Tenant, directory_id: str, seen: Collection[str], selected: Collection[str] | None, keep_prefix: str
) -> None:
    """Delete the directory's groups not `seen` (and, when given, not `selected`), but for those whose object id
    starts with `keep_prefix` (groups made from a user attribute, not read from the directory)."""
    groups = Group.objects.filter(tenant=tenant, directory_tenant_id=directory_id).exclude(
        directory_object_id__startswith=keep_prefix
    )
    groups.exclude(directory_object_id__in=seen).delete()
    if selected is not None:
        groups.exclude(directory_object_id__in=selected).delete()
