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
from typing import TYPE_CHECKING, Any

from accounts.selectors import directory_cost_centers, directory_groups
from accounts.services.bulk import (
    cost_centers_assign,
    groups_create,
    groups_delete,
    groups_rename,
    memberships_clear,
    memberships_write,
    users_cost_centers_clear,
)
from microsoft.graph import removed_reason, user_member_changes
from user_sync.choices import SelectionMode
from user_sync.models import SyncRun, SyncSettings

if TYPE_CHECKING:
    from accounts.models import Group


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
    done = set(run.groups_done)
    first_time = [i for i in dict.fromkeys(ids) if run.groups_full_read and i not in done]

    # Groups.
    groups: dict[str, Group] = {}
    if rows_wanted:
        # Not "": the partial unique index's condition, so that PostgreSQL uses it.
        known = directory_groups(tenant=tenant, directory_id=directory, object_ids=ids).exclude(directory_object_id="")
        groups = {g.directory_object_id: g for g in known}
        gone = [groups[i].pk for i, item in zip(ids, items, strict=True) if removed_reason(item) and i in groups]
        if gone:
            groups_delete(ids=gone)
        new: dict[str, str] = {}  # object id -> name
        renamed = []
        for object_id, item in zip(ids, items, strict=True):
            if removed_reason(item) or not synced_group(object_id):
                continue
            name = str(item.get("displayName") or "")[:256]
            group = groups.get(object_id)
            if group is None:
                if object_id not in new or name:
                    new[object_id] = name or object_id
            elif name and group.name != name:
                group.name = name
                renamed.append(group)
        made = groups_create(tenant=tenant, directory_id=directory, names=new) if new else {}
        groups.update(made)
        if renamed:
            groups_rename(renamed)
        # A group made on this page has no memberships to clear.
        cleared = [groups[i].pk for i in first_time if i in groups and groups[i].pk and i not in made]
        if cleared:
            memberships_clear(group_ids=cleared)

    # Cost centers from the root group's child groups.
    centers: dict[str, int] = {}
    if cost_center_ids & set(ids):
        centers = dict(
            directory_cost_centers(
                tenant=tenant, directory_id=directory, object_ids=list(cost_center_ids & set(ids))
            ).values_list("directory_object_id", "pk")
        )
        restart = [centers[i] for i in first_time if i in centers]
        if restart:
            users_cost_centers_clear(tenant=tenant, cost_center_ids=restart)

    # Members.
    # A group's members may continue from one page to the next, and pages written together are one list here.
    changes: dict[str, list[tuple[str, bool]]] = {}
    for object_id, item in zip(ids, items, strict=True):
        if not removed_reason(item) and ((object_id in groups and groups[object_id].pk) or object_id in centers):
            changes.setdefault(object_id, []).extend(user_member_changes(item))
    adds: list[tuple[int, str]] = []  # (group pk, member object id)
    removes: list[tuple[int, str]] = []
    assignments: list[tuple[int, str, bool]] = []  # (cost center pk, member object id, removed)
    for object_id, entries in changes.items():
        group = groups.get(object_id)
        center = centers.get(object_id)
        if group is not None and group.pk:
            adds += [(group.pk, member) for member, removed in entries if not removed]
            removes += [(group.pk, member) for member, removed in entries if removed]
        if center is not None:
            assignments += [(center, member, removed) for member, removed in entries]
    if adds:
        counts.memberships_added = memberships_write(adds, tenant.pk, directory, remove=False)
    if removes:
        counts.memberships_removed = memberships_write(removes, tenant.pk, directory, remove=True)
    if assignments:
        cost_centers_assign(assignments, tenant, directory)
    _done(run, first_time)
    return counts


def _done(run: SyncRun, first_time: list[str]) -> None:
    if first_time:
        run.groups_done = [*run.groups_done, *first_time]
