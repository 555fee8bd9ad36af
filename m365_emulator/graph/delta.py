"""Rounds of ``/users/delta`` and ``/groups/delta`` over the directory's change log.

A round either lists the directory as it is (the first round: no token) or the changes after a sequence number
(a ``$deltatoken``). Pages are cut by the emulator (``DeltaOptions``: about 200 objects, and at most so many
membership links, so a large group's ``members@delta`` continues on the next pages under the same group id). Each
object appears once per round, in its state when the page is read: its last tracked change in the round's window
decides where. Only the selected properties are tracked: a change to anything else does not bring the object back.

- created, changed, restored: the object with its selected properties (never-set ones left out);
- soft-deleted user: ``{"id", "@removed": {"reason": "changed"}}``; deleted for good: ``"reason": "deleted"``;
- a disabled user is a change like any other: ``accountEnabled: false`` (when selected);
- membership: ``members@delta`` lists added members, and removed ones with ``@removed: {"reason": "deleted"}``.

References:
- user: delta https://learn.microsoft.com/graph/api/user-delta
- group: delta https://learn.microsoft.com/graph/api/group-delta
- delta query overview https://learn.microsoft.com/graph/delta-query-overview
- incremental changes for groups (members over several pages) https://learn.microsoft.com/graph/delta-query-groups
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from m365_emulator.graph.directory_store import (
    MEMBER_ADDED,
    MEMBER_REMOVED,
    OBJECT_EVENTS,
    UPDATED,
    Change,
    ChangeLog,
    DirectoryStore,
    TenantDirectory,
)
from m365_emulator.graph.objects import (
    GROUP_DEFAULT_SELECT,
    MEMBERS,
    USER_DEFAULT_SELECT,
    group_json,
    member_ref,
    removed,
    user_json,
)

USERS, GROUPS = "users", "groups"
INITIAL, CHANGES = "initial", "changes"
_MEMBER_CACHE_SIZE = 16


@dataclass(frozen=True)
class DeltaQuery:
    """What a round tracks; carried inside its tokens, so later pages and rounds need no query options."""

    collection: str
    tenant_id: str
    select: tuple[str, ...] | None
    members: bool
    ids: tuple[str, ...] | None

    @property
    def tracked(self) -> frozenset[str]:
        default = USER_DEFAULT_SELECT if self.collection == USERS else GROUP_DEFAULT_SELECT
        return frozenset(self.select or default) - {MEMBERS}

    def tracks(self, change: Change) -> bool:
        if change.event in OBJECT_EVENTS:
            return True
        if change.event == UPDATED:
            return bool(change.properties & self.tracked)
        return self.members  # membership added or removed

    def as_json(self) -> dict[str, Any]:
        return {"k": self.collection, "t": self.tenant_id, "s": self.select, "m": self.members, "f": self.ids}

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> DeltaQuery:
        select, ids = payload.get("s"), payload.get("f")
        return cls(
            collection=str(payload["k"]),
            tenant_id=str(payload["t"]),
            select=tuple(select) if select is not None else None,
            members=bool(payload.get("m")),
            ids=tuple(ids) if ids is not None else None,
        )


@dataclass(frozen=True)
class DeltaPosition:
    """Where a round stands: its phase, its window (``since``, ``upto``] and the cursor within it.

    First round: ``cursor`` is (object position, member position). Change rounds: (last sequence number read,
    members of that object already sent).
    """

    phase: str
    since: int
    upto: int
    cursor: tuple[int, int]

    def as_json(self) -> dict[str, Any]:
        return {"p": self.phase, "a": self.since, "u": self.upto, "c": list(self.cursor)}

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> DeltaPosition:
        cursor = payload["c"]
        return cls(str(payload["p"]), int(payload["a"]), int(payload["u"]), (int(cursor[0]), int(cursor[1])))


@dataclass
class DeltaPage:
    items: list[dict[str, Any]]
    next_position: DeltaPosition | None  # None: the round is over, the deltaLink continues from ``upto``


def delta_page(store: DirectoryStore, tenant: TenantDirectory, query: DeltaQuery, position: DeltaPosition) -> DeltaPage:
    page = _Page(store, tenant, query, position)
    if position.phase == INITIAL:
        return page.initial_users() if query.collection == USERS else page.initial_groups()
    return page.changes()


class _Page:
    def __init__(
        self, store: DirectoryStore, tenant: TenantDirectory, query: DeltaQuery, position: DeltaPosition
    ) -> None:
        self.store, self.tenant, self.query, self.position = store, tenant, query, position
        self.items: list[dict[str, Any]] = []
        self.links_left = store.options.members_per_page
        self.ids = frozenset(query.ids) if query.ids is not None else None

    @property
    def full(self) -> bool:
        return len(self.items) >= self.store.options.page_size

    def _at(self, cursor: tuple[int, int]) -> DeltaPage:
        return DeltaPage(
            self.items, DeltaPosition(self.position.phase, self.position.since, self.position.upto, cursor)
        )

    def _done(self) -> DeltaPage:
        return DeltaPage(self.items, None)

    # --- the first round: the directory as it is --------------------------------------------------------------

    def initial_users(self) -> DeltaPage:
        users = self.store.state.users
        ids = self.tenant.user_ids
        index = self.position.cursor[0]
        while index < len(ids) and not self.full:
            user = users.get(ids[index])
            index += 1
            if user is not None and (self.ids is None or user.object_id in self.ids):
                self.items.append(user_json(user, self.query.select, omit_unset=True))
        return self._at((index, 0)) if index < len(ids) else self._done()

    def initial_groups(self) -> DeltaPage:
        ids = self.tenant.group_ids
        index, member_position = self.position.cursor
        while index < len(ids) and not self.full:
            group = self.tenant.groups.get(ids[index])
            if group is None or (self.ids is not None and group.object_id not in self.ids):
                index, member_position = index + 1, 0
                continue
            body = group_json(group, self.query.select, omit_unset=True)
            if self.query.members and len(group.members):
                if self.links_left == 0:
                    break  # this group's members start on the next page
                chunk, rest = group.members.from_position(member_position, self.links_left)
                self.links_left -= len(chunk)
                if chunk:
                    body["members@delta"] = [member_ref(m, self.store.member_type(self.tenant, m)) for m in chunk]
                self.items.append(body)
                if rest is not None:
                    return self._at((index, rest))
            else:
                self.items.append(body)
            index, member_position = index + 1, 0
        return self._at((index, member_position)) if index < len(ids) else self._done()

    # --- later rounds: what changed in the window -----------------------------------------------------------------

    def changes(self) -> DeltaPage:
        log = self.tenant.users_log if self.query.collection == USERS else self.tenant.groups_log
        after, sent_members = self.position.cursor
        for change in log.window(after, self.position.upto):
            if self.ids is not None and change.object_id not in self.ids:
                continue
            if not self.query.tracks(change) or not self._last_tracked(log, change):
                continue
            if self.query.collection == USERS:
                self.items.append(self._user(change.object_id))
            else:
                stopped = self._group(change, sent_members)
                if stopped is not None:
                    return stopped
            sent_members = 0
            if self.full or (self.links_left == 0 and self.query.members):
                return self._at((change.seq, 0))
        return self._done()

    def _last_tracked(self, log: ChangeLog, change: Change) -> bool:
        """Is ``change`` the object's last tracked change in the window? (Then the object is sent here.)"""
        later = log.object_entries(change.object_id, change.seq, self.position.upto)
        return not any(self.query.tracks(entry) for entry in later)

    def _user(self, object_id: str) -> dict[str, Any]:
        user = self.store.state.users.get(object_id)
        if user is not None:
            return user_json(user, self.query.select, omit_unset=True)
        return removed(object_id, "changed" if object_id in self.tenant.deleted_users else "deleted")

    def _group(self, change: Change, sent_members: int) -> DeltaPage | None:
        """Add the group with its next membership changes; a DeltaPage when the page ends inside its members."""
        group = self.tenant.groups.get(change.object_id)
        if group is None:
            self.items.append(removed(change.object_id, "deleted"))
            return None
        members = self._member_changes(change.object_id) if self.query.members else []
        if not members and not self._changed_besides_members(change.object_id):
            return None  # members left and came back within the window: nothing to tell
        body = group_json(group, self.query.select, omit_unset=True)
        remaining = members[sent_members:]
        if remaining and self.links_left == 0:
            return self._at((change.seq - 1, sent_members))
        chunk = remaining[: self.links_left]
        self.links_left -= len(chunk)
        if chunk:
            body["members@delta"] = chunk
        self.items.append(body)
        if len(chunk) < len(remaining):
            # The rest of this group's members continue on the next page, under the same group id.
            return self._at((change.seq - 1, sent_members + len(chunk)))
        return None

    def _changed_besides_members(self, group_id: str) -> bool:
        entries = self.tenant.groups_log.object_entries(group_id, self.position.since, self.position.upto)
        return any(e.event not in (MEMBER_ADDED, MEMBER_REMOVED) and self.query.tracks(e) for e in entries)

    def _member_changes(self, group_id: str) -> list[dict[str, Any]]:
        """The group's net membership changes in the window (cached: a big group's list spans many pages)."""
        key = (group_id, self.position.since, self.position.upto)
        cache = self.tenant.member_changes_cache
        if key in cache:
            return cache[key]
        first_last: dict[str, tuple[str, str, str]] = {}
        for entry in self.tenant.groups_log.object_entries(group_id, self.position.since, self.position.upto):
            if entry.event not in (MEMBER_ADDED, MEMBER_REMOVED) or entry.member_id is None:
                continue
            first = first_last.get(entry.member_id, (entry.event, entry.event, entry.member_type or ""))[0]
            first_last[entry.member_id] = (first, entry.event, entry.member_type or "")
        changes = []
        for member_id, (first, last, member_type) in first_last.items():
            was_member, is_member = first == MEMBER_REMOVED, last == MEMBER_ADDED
            if is_member and not was_member:
                changes.append(member_ref(member_id, member_type))
            elif was_member and not is_member:
                changes.append(member_ref(member_id, member_type, removed_reason="deleted"))
        if len(cache) >= _MEMBER_CACHE_SIZE:
            cache.clear()
        cache[key] = changes
        return changes
