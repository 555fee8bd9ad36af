"""One page of `/groups/delta` (members included) written in bulk: groups, memberships and cost centers from a
root group, a constant number of queries per page.

A group's `members@delta` may continue over several pages under the same id: each page's entries are merged
(added, or removed with `@removed`). A full read lists every member as added, so the first time a full read meets
a group its old memberships (and, for a cost center, its users' assignment) are cleared before its members are
written again. Members that are not users this directory's sync knows are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import F

from accounts.models import CostCenter, Group, GroupMembership, User
from microsoft.graph import member_changes, removed_reason
from user_sync.choices import SelectionMode
from user_sync.models import SyncRun, SyncSettings
from user_sync.services.users_page import AnyOf, array_literal, memberships_insert, users_update


@dataclass
class GroupCounts:
    groups: int = 0
    memberships_added: int = 0
    memberships_removed: int = 0


def groups_page_apply(*, run: SyncRun, settings: SyncSettings, items: Iterable[Mapping[str, Any]]) -> GroupCounts:
    items = [item for item in items if item.get("id")]
    counts = GroupCounts(groups=len(items))
    if run.is_preview:
        return counts
    tenant, directory = run.tenant, settings.directory_id
    rows_wanted = settings.sync_groups and settings.selection_mode in (SelectionMode.ALL, SelectionMode.SELECTED)
    selected = set(settings.selected_groups) if settings.selection_mode == SelectionMode.SELECTED else None
    cost_center_ids = set(run.cost_center_ids)

    def synced_group(object_id: str) -> bool:
        return rows_wanted and (selected is None or object_id in selected)

    ids = [str(item["id"]).lower() for item in items]
    first_time = [i for i in ids if run.groups_full_read and i not in set(run.groups_done)]

    # Groups.
    groups: dict[str, Group] = {}
    if rows_wanted:
        groups = {
            g.directory_object_id: g
            for g in Group.objects.filter(
                tenant=tenant, directory_tenant_id=directory, directory_object_id__in=ids
            ).exclude(directory_object_id="")  # the partial unique index's condition: PostgreSQL then uses it
        }
        gone = [groups[i].pk for i, item in zip(ids, items, strict=True) if removed_reason(item) and i in groups]
        if gone:
            Group.objects.filter(pk__in=gone).delete()
        new, renamed = [], []
        for object_id, item in zip(ids, items, strict=True):
            if removed_reason(item) or not synced_group(object_id):
                continue
            name = str(item.get("displayName") or "")[:256]
            group = groups.get(object_id)
            if group is None:
                group = Group(
                    tenant=tenant, name=name or object_id, directory_tenant_id=directory, directory_object_id=object_id
                )
                new.append(group)
                groups[object_id] = group
            elif name and group.name != name:
                group.name = name
                renamed.append(group)
        if new:
            Group.objects.bulk_create(new)
        if renamed:
            Group.objects.bulk_update(renamed, ["name"])
        made = {id(group) for group in new}  # a group made on this page has no memberships to clear
        cleared = [groups[i].pk for i in first_time if i in groups and groups[i].pk and id(groups[i]) not in made]
        if cleared:
            GroupMembership.objects.filter(group_id__in=cleared).delete()

    # Cost centers from the root group's child groups.
    centers: dict[str, int] = {}
    if cost_center_ids & set(ids):
        centers = dict(
            CostCenter.objects.filter(
                tenant=tenant, directory_tenant_id=directory, directory_object_id__in=list(cost_center_ids & set(ids))
            )
            .exclude(directory_object_id="")
            .values_list("directory_object_id", "pk")
        )
        restart = [centers[i] for i in first_time if i in centers]
        if restart:
            User.objects.filter(tenant=tenant, cost_center_id__in=restart).update(cost_center=None)

    # Members.
    changes = {
        object_id: [c for c in member_changes(item) if c.object_type == "user"]
        for object_id, item in zip(ids, items, strict=True)
        if not removed_reason(item) and ((object_id in groups and groups[object_id].pk) or object_id in centers)
    }
    adds: list[tuple[int, str]] = []  # (group pk, member object id)
    removes: list[tuple[int, str]] = []
    assignments: list[tuple[int, str, bool]] = []  # (cost center pk, member object id, removed)
    for object_id, entries in changes.items():
        group = groups.get(object_id)
        center = centers.get(object_id)
        for entry in entries:
            member = entry.object_id.lower()
            if group is not None and group.pk:
                (removes if entry.removed else adds).append((group.pk, member))
            if center is not None:
                assignments.append((center, member, entry.removed))
    if adds:
        counts.memberships_added = _memberships_write(adds, tenant.pk, directory, remove=False)
    if removes:
        counts.memberships_removed = _memberships_write(removes, tenant.pk, directory, remove=True)
    if assignments:
        _cost_centers_assign(assignments, tenant, directory)
    _done(run, first_time)
    return counts


def _memberships_write(pairs: list[tuple[int, str]], tenant_id: int, directory: str, *, remove: bool) -> int:
    """Add (or remove) memberships given as (group pk, member object id), for the members that are users this
    directory's sync knows; how many rows changed. On PostgreSQL one statement that finds the users by their
    identity itself: a groups page's members were read into Python by one query and written back as ids by another
    (at 100,000 users, 400 pages of about 500 members each)."""
    if connection.vendor != "postgresql":
        users = dict(
            User.objects.filter(
                tenant_id=tenant_id, directory_tenant_id=directory, directory_object_id__in={o for _, o in pairs}
            )
            .exclude(directory_object_id="")
            .values_list("directory_object_id", "pk")
        )
        found = {(group_id, users[o]) for group_id, o in pairs if o in users}
        if not remove:
            memberships_insert(sorted(found))
            return len(found)
        stale = [
            pk
            for pk, group_id, user_id in GroupMembership.objects.filter(
                group_id__in={g for g, _ in found}, user_id__in={u for _, u in found}
            ).values_list("pk", "group_id", "user_id")
            if (group_id, user_id) in found
        ]
        return GroupMembership.objects.filter(pk__in=stale).delete()[0]
    memberships, people = GroupMembership._meta.db_table, User._meta.db_table
    # The members' users read by `= ANY` of their ids on the identity index (partial: its condition stated), then
    # matched to the pairs: joined on the ids directly, PostgreSQL hashed all of the tenant's users for each page.
    members = (
        f'SELECT u."id", u."directory_object_id" AS o FROM "{people}" AS u '  # noqa: S608
        'WHERE u."tenant_id" = %s AND u."directory_tenant_id" = %s AND u."directory_object_id" = ANY(%s::text[]) '
        "AND u.\"directory_object_id\" <> ''"
    )
    if remove:
        statement = (
            f'DELETE FROM "{memberships}" AS m USING unnest(%s::bigint[], %s::text[]) AS v(g, o), ({members}) AS u '  # noqa: S608
            'WHERE u.o = v.o AND m."group_id" = v.g AND m."user_id" = u."id"'
        )
    else:
        statement = (
            f'INSERT INTO "{memberships}" ("group_id", "user_id") SELECT v.g, u."id" '  # noqa: S608
            f"FROM unnest(%s::bigint[], %s::text[]) AS v(g, o) JOIN ({members}) AS u ON u.o = v.o "
            "ON CONFLICT DO NOTHING"
        )
    with connection.cursor() as cursor:
        # Names come from the models, values are parameters.
        cursor.execute(
            statement,
            [
                array_literal(group_id for group_id, _ in pairs),
                array_literal(o for _, o in pairs),
                tenant_id,
                directory,
                array_literal(sorted({o for _, o in pairs})),
            ],
        )
        return max(cursor.rowcount, 0)


def _cost_centers_assign(assignments: list[tuple[int, str, bool]], tenant: Any, directory: str) -> None:
    """A root group's child groups' members: added, the user's cost center; removed, none (if it was that one)."""
    # (pk, cost center) by object id, as tuples: a model per member cost more than the query (a page holds hundreds).
    users: dict[str, tuple[int, int | None]] = {
        object_id.lower(): (pk, cost_center_id)
        for pk, object_id, cost_center_id in User.objects.filter(
            AnyOf(F("directory_object_id"), {member for _, member, _ in assignments}),
            tenant=tenant,
            directory_tenant_id=directory,
        )
        .exclude(directory_object_id="")  # the identity index is partial: its condition lets PostgreSQL use it
        .values_list("pk", "directory_object_id", "cost_center_id")
    }
    assigned: dict[int, User] = {}
    for center, member, removed in assignments:
        found = users.get(member)
        if found is None:
            continue
        user_pk, cost_center_id = found
        if not removed:
            users[member] = (user_pk, center)
            assigned[user_pk] = User(pk=user_pk, cost_center_id=center)
        elif cost_center_id == center:
            users[member] = (user_pk, None)
            assigned[user_pk] = User(pk=user_pk, cost_center_id=None)
    if assigned:
        users_update(list(assigned.values()), ["cost_center"])


def _done(run: SyncRun, first_time: list[str]) -> None:
    if first_time:
        run.groups_done = [*run.groups_done, *first_time]
