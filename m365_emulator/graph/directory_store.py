"""The directories behind Graph's users and groups, and the change log that delta queries read.

Users are the emulator's ``State.users`` (the same objects sign-in uses), so a user disabled or deleted here can no
longer sign in. Each directory keeps:

- its users' ids and its groups' ids in creation order (append-only, so a page position never moves);
- soft-deleted users apart (they are out of ``State.users`` and can be restored with their memberships);
- a sequence number bumped by every change, and two change logs (users, groups) of ``Change`` entries.

A delta token is a sequence number: a round lists the log entries after it, up to the sequence number when the
round began. Nothing is copied per token, so a 100,000-user directory costs the same whatever the number of
tokens. The log is only written once someone has asked for a delta in that directory (until then no token exists
that could need it), so generating a large directory before the first sync costs no log at all.

Reference: https://learn.microsoft.com/graph/delta-query-overview
"""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from m365_emulator.graph.base import state_extension
from m365_emulator.graph.objects import GROUP_TYPE, GROUP_WRITABLE, USER_TYPE, USER_WRITABLE
from m365_emulator.seed import EXTENSION_ATTRIBUTES, Directory, SeedGroup, User
from m365_emulator.state import State

DEFAULT_PASSWORD = "Emulator-User-1"
DELTA_TOKEN_LIFETIME = 7 * 24 * 3600  # identity objects' delta tokens last 7 days

# Change events. ``deleted`` is a soft delete (restorable, ``@removed: changed``); ``purged`` is gone for good.
CREATED, UPDATED, DELETED, RESTORED, PURGED = "created", "updated", "deleted", "restored", "purged"
MEMBER_ADDED, MEMBER_REMOVED = "member_added", "member_removed"
OBJECT_EVENTS = frozenset({CREATED, DELETED, RESTORED, PURGED})


class DirectoryError(ValueError):
    """A control-API request that cannot be applied (unknown object, duplicate name, bad value)."""


class DirectoryLookupError(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class Change:
    seq: int
    object_id: str
    event: str
    properties: frozenset[str] = frozenset()
    member_id: str | None = None
    member_type: str | None = None  # "#microsoft.graph.user" or "#microsoft.graph.group"


def _seq_of(change: Change) -> int:
    return change.seq


class ChangeLog:
    """The changes of one collection of one directory, in sequence order."""

    def __init__(self) -> None:
        self.entries: list[Change] = []
        self.by_object: dict[str, list[Change]] = {}

    def append(self, change: Change) -> None:
        self.entries.append(change)
        self.by_object.setdefault(change.object_id, []).append(change)

    def window(self, after: int, upto: int) -> Iterator[Change]:
        """Entries with ``after < seq <= upto``."""
        start = bisect.bisect_right(self.entries, after, key=_seq_of)
        for change in self.entries[start:]:
            if change.seq > upto:
                return
            yield change

    def object_entries(self, object_id: str, after: int, upto: int) -> list[Change]:
        entries = self.by_object.get(object_id, [])
        start = bisect.bisect_right(entries, after, key=_seq_of)
        end = bisect.bisect_right(entries, upto, key=_seq_of)
        return entries[start:end]


class MemberList:
    """A group's direct members in the order they were added.

    A member keeps its position for as long as it stays, so paging through members by position stays right when
    members come and go between two pages (offsets into a list would skip someone).
    """

    __slots__ = ("_position", "_slots")

    def __init__(self) -> None:
        self._slots: list[str | None] = []
        self._position: dict[str, int] = {}

    def add(self, object_id: str) -> bool:
        if object_id in self._position:
            return False
        self._position[object_id] = len(self._slots)
        self._slots.append(object_id)
        return True

    def remove(self, object_id: str) -> bool:
        position = self._position.pop(object_id, None)
        if position is None:
            return False
        self._slots[position] = None
        return True

    def __contains__(self, object_id: object) -> bool:
        return object_id in self._position

    def __len__(self) -> int:
        return len(self._position)

    def __iter__(self) -> Iterator[str]:
        return iter(self._position)

    def positions(self, start: int) -> Iterator[tuple[int, str]]:
        """(position, member) from ``start`` on."""
        for position in range(start, len(self._slots)):
            member = self._slots[position]
            if member is not None:
                yield position, member

    def from_position(self, start: int, limit: int) -> tuple[list[str], int | None]:
        """Up to ``limit`` members from ``start``, and the position to continue from (None: no more)."""
        chunk: list[str] = []
        position, end = start, len(self._slots)
        while position < end and len(chunk) < limit:
            member = self._slots[position]
            position += 1
            if member is not None:
                chunk.append(member)
        while position < end and self._slots[position] is None:
            position += 1
        return chunk, (position if position < end else None)


@dataclass(slots=True)
class Group:
    object_id: str
    directory: str
    display_name: str
    description: str | None
    mail_nickname: str
    security_enabled: bool
    mail_enabled: bool
    group_types: tuple[str, ...]
    created: str
    mail: str | None = None
    members: MemberList = field(default_factory=MemberList)


@dataclass
class DeletedUser:
    user: User
    deleted_at: float
    groups: list[str]  # the groups it was a member of, given back on restore


@dataclass
class DeltaOptions:
    """How delta pages are cut (Microsoft chooses; tests shrink them to see pages and split groups)."""

    page_size: int = 200
    members_per_page: int = 500
    token_lifetime: int = DELTA_TOKEN_LIFETIME

    def as_json(self) -> dict[str, int]:
        return {
            "delta_page_size": self.page_size,
            "delta_members_per_page": self.members_per_page,
            "delta_token_lifetime": self.token_lifetime,
        }


class TenantDirectory:
    """One directory's users, groups and change logs."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        self.user_ids: list[str] = []
        self.deleted_users: dict[str, DeletedUser] = {}
        self.groups: dict[str, Group] = {}
        self.group_ids: list[str] = []
        self.seq = 0
        self.tracking = False
        self.users_log = ChangeLog()
        self.groups_log = ChangeLog()
        self.tokens_invalid_before = 0.0
        self.resync_pending = 0
        # A big group's net membership changes of one delta window, computed once for all its pages.
        self.member_changes_cache: dict[tuple[str, int, int], list[dict[str, Any]]] = {}

    @property
    def tenant_id(self) -> str:
        return self.directory.tenant_id

    def start_tracking(self) -> int:
        """Log changes from now on (a delta round starts); returns the current sequence number."""
        self.tracking = True
        return self.seq

    def record(self, log: ChangeLog, object_id: str, event: str, **details: Any) -> None:
        self.seq += 1
        if self.tracking:
            log.append(Change(self.seq, object_id, event, **details))

    def record_user(self, user_id: str, event: str, properties: Iterable[str] = ()) -> None:
        self.record(self.users_log, user_id, event, properties=frozenset(properties))

    def record_group(self, group_id: str, event: str, properties: Iterable[str] = ()) -> None:
        self.record(self.groups_log, group_id, event, properties=frozenset(properties))

    def record_membership(self, group_id: str, member_id: str, member_type: str, *, added: bool) -> None:
        event = MEMBER_ADDED if added else MEMBER_REMOVED
        self.record(self.groups_log, group_id, event, member_id=member_id, member_type=member_type)


def _now_iso(state: State) -> str:
    return datetime.fromtimestamp(state.now(), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class DirectoryStore:
    """Every directory of the emulator, built from the seed at start and after each reset."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.options = DeltaOptions()
        self.tenants = {tenant_id: TenantDirectory(d) for tenant_id, d in state.directories.items()}
        for user in state.users.values():
            self.tenants[user.directory].user_ids.append(user.object_id)
        for seed_group in state.seed.groups:
            self._seed_group(seed_group)

    def _seed_group(self, seed_group: SeedGroup) -> None:
        tenant = self.tenants[seed_group.directory]
        group = self._new_group(
            tenant,
            object_id=seed_group.object_id,
            display_name=seed_group.display_name,
            description=seed_group.description,
            mail_nickname=seed_group.mail_nickname,
            security_enabled=seed_group.security_enabled,
            mail_enabled=seed_group.mail_enabled,
            group_types=tuple(seed_group.group_types),
        )
        upns = {u.upn: u.object_id for u in self.state.users.values() if u.directory == tenant.tenant_id}
        for member in seed_group.members:
            group.members.add(upns.get(member, member))

    # --- lookups ------------------------------------------------------------------------------------------------

    def tenant(self, tenant_id: str) -> TenantDirectory:
        tenant = self.tenants.get(tenant_id.lower())
        if tenant is None:
            for candidate in self.tenants.values():
                if tenant_id.lower() in candidate.directory.domains:
                    return candidate
            raise DirectoryLookupError(f"no directory {tenant_id}")
        return tenant

    def user(self, tenant: TenantDirectory, reference: str) -> User | None:
        """An active user of the directory by object id or user principal name."""
        wanted = reference.strip().lower()
        user = self.state.users.get(wanted)
        if user is not None:
            return user if user.directory == tenant.tenant_id else None
        if "@" not in wanted:
            return None
        users = self.state.users
        return next(
            (users[i] for i in tenant.user_ids if i in users and users[i].upn == wanted),
            None,
        )

    def require_user(self, tenant: TenantDirectory, reference: str) -> User:
        user = self.user(tenant, reference)
        if user is None:
            raise DirectoryLookupError(f"no user {reference} in {tenant.directory.display_name}")
        return user

    def deleted_user(self, tenant: TenantDirectory, reference: str) -> DeletedUser:
        wanted = reference.strip().lower()
        for object_id, deleted in tenant.deleted_users.items():
            if wanted in (object_id, deleted.user.upn):
                return deleted
        raise DirectoryLookupError(f"no deleted user {reference} in {tenant.directory.display_name}")

    def group(self, tenant: TenantDirectory, reference: str) -> Group:
        wanted = reference.strip()
        group = tenant.groups.get(wanted.lower())
        if group is None:
            group = next((g for g in tenant.groups.values() if g.display_name == wanted), None)
        if group is None:
            raise DirectoryLookupError(f"no group {reference} in {tenant.directory.display_name}")
        return group

    def member_type(self, tenant: TenantDirectory, object_id: str) -> str:
        return GROUP_TYPE if object_id in tenant.groups else USER_TYPE

    def upn_taken(self, upn: str) -> bool:
        return any(u.upn == upn for u in self.state.users.values()) or any(
            d.user.upn == upn for t in self.tenants.values() for d in t.deleted_users.values()
        )

    # --- users --------------------------------------------------------------------------------------------------

    def user_create(self, tenant: TenantDirectory, fields: Mapping[str, Any]) -> User:
        upn = str(fields.get("userPrincipalName") or "").strip().lower()
        if not upn or "@" not in upn:
            raise DirectoryError("userPrincipalName is required (name@domain)")
        self._check_domain(tenant, upn)
        if self.upn_taken(upn):
            raise DirectoryError(f"userPrincipalName {upn} is already used")
        object_id = self._new_object_id(fields)
        given, surname = fields.get("givenName"), fields.get("surname")
        display_name = fields.get("displayName") or " ".join(p for p in (given, surname) if p) or upn
        user = User(
            object_id=object_id,
            upn=upn,
            mail=str(fields.get("mail") or upn),
            display_name=str(display_name),
            password=str(fields.get("password") or DEFAULT_PASSWORD),
            directory=tenant.tenant_id,
            created=_now_iso(self.state),
        )
        _apply_user_fields(user, {k: v for k, v in fields.items() if k not in ("id", "userPrincipalName", "mail")})
        with self.state.lock:
            self.state.users[object_id] = user
            tenant.user_ids.append(object_id)
            tenant.record_user(object_id, CREATED)
        return user

    def user_update(self, tenant: TenantDirectory, reference: str, fields: Mapping[str, Any]) -> list[str]:
        """Change a user; returns the Graph properties that changed (what a delta round will carry)."""
        user = self.require_user(tenant, reference)
        if "userPrincipalName" in fields:
            upn = str(fields["userPrincipalName"]).strip().lower()
            self._check_domain(tenant, upn)
            if upn != user.upn and self.upn_taken(upn):
                raise DirectoryError(f"userPrincipalName {upn} is already used")
        with self.state.lock:
            changed = _apply_user_fields(user, fields)
            if changed:
                tenant.record_user(user.object_id, UPDATED, changed)
        return sorted(changed)

    def user_delete(self, tenant: TenantDirectory, reference: str, *, permanent: bool = False) -> str:
        """Soft-delete a user (restorable for 30 days in Entra), or delete it for good; returns its id."""
        user = self.user(tenant, reference)
        with self.state.lock:
            if user is not None:
                groups = self._leave_groups(tenant, user.object_id)
                del self.state.users[user.object_id]
                tenant.deleted_users[user.object_id] = DeletedUser(user, self.state.now(), groups)
                if not permanent:
                    tenant.record_user(user.object_id, DELETED)
                    return user.object_id
            deleted = self.deleted_user(tenant, reference)
            del tenant.deleted_users[deleted.user.object_id]
            tenant.record_user(deleted.user.object_id, PURGED)
            return deleted.user.object_id

    def user_restore(self, tenant: TenantDirectory, reference: str) -> User:
        deleted = self.deleted_user(tenant, reference)
        user = deleted.user
        with self.state.lock:
            del tenant.deleted_users[user.object_id]
            self.state.users[user.object_id] = user
            tenant.record_user(user.object_id, RESTORED)
            for group_id in deleted.groups:
                group = tenant.groups.get(group_id)
                if group is not None and group.members.add(user.object_id):
                    tenant.record_membership(group_id, user.object_id, USER_TYPE, added=True)
        return user

    def _leave_groups(self, tenant: TenantDirectory, object_id: str) -> list[str]:
        left = []
        member_type = self.member_type(tenant, object_id)
        for group in tenant.groups.values():
            if group.members.remove(object_id):
                tenant.record_membership(group.object_id, object_id, member_type, added=False)
                left.append(group.object_id)
        return left

    def _check_domain(self, tenant: TenantDirectory, upn: str) -> None:
        domain = upn.rpartition("@")[2]
        if domain not in tenant.directory.domains:
            raise DirectoryError(
                f"the domain of {upn} is not a domain of {tenant.directory.display_name} "
                f"({', '.join(tenant.directory.domains)})"
            )

    def _new_object_id(self, fields: Mapping[str, Any]) -> str:
        """The id the caller chose, else a new one; never one a user or group of any directory has."""
        object_id = str(fields.get("id") or uuid.uuid4()).lower()
        if object_id in self.state.users or any(
            object_id in t.groups or object_id in t.deleted_users for t in self.tenants.values()
        ):
            raise DirectoryError(f"object id {object_id} is already used")
        return object_id

    # --- groups -------------------------------------------------------------------------------------------------

    def _new_group(
        self,
        tenant: TenantDirectory,
        *,
        object_id: str,
        display_name: str,
        description: str | None = None,
        mail_nickname: str | None = None,
        security_enabled: bool = True,
        mail_enabled: bool = False,
        group_types: tuple[str, ...] = (),
        created: str | None = None,
    ) -> Group:
        nickname = mail_nickname or "".join(ch for ch in display_name if ch.isalnum()) or object_id[:8]
        group = Group(
            object_id=object_id,
            directory=tenant.tenant_id,
            display_name=display_name,
            description=description,
            mail_nickname=nickname,
            security_enabled=security_enabled,
            mail_enabled=mail_enabled,
            group_types=group_types,
            created=created or _now_iso(self.state),
        )
        _refresh_group_mail(group, tenant)
        tenant.groups[object_id] = group
        tenant.group_ids.append(object_id)
        return group

    def group_create(self, tenant: TenantDirectory, fields: Mapping[str, Any]) -> Group:
        display_name = str(fields.get("displayName") or "").strip()
        if not display_name:
            raise DirectoryError("displayName is required")
        object_id = self._new_object_id(fields)
        with self.state.lock:
            group = self._new_group(
                tenant,
                object_id=object_id,
                display_name=display_name,
                description=fields.get("description"),
                mail_nickname=fields.get("mailNickname"),
                security_enabled=bool(fields.get("securityEnabled", True)),
                mail_enabled=bool(fields.get("mailEnabled", False)),
                group_types=tuple(fields.get("groupTypes", ())),
            )
            tenant.record_group(object_id, CREATED)
        self.members_add(tenant, object_id, [str(m) for m in fields.get("members", [])])
        return group

    def group_update(self, tenant: TenantDirectory, reference: str, fields: Mapping[str, Any]) -> list[str]:
        group = self.group(tenant, reference)
        changed: list[str] = []
        with self.state.lock:
            for name, value in fields.items():
                attribute = GROUP_WRITABLE.get(name)
                if attribute is None:
                    raise DirectoryError(f"{name} is not a writable group property ({', '.join(GROUP_WRITABLE)})")
                new = tuple(value) if attribute == "group_types" else value
                if getattr(group, attribute) != new:
                    setattr(group, attribute, new)
                    changed.append(name)
            if {"mailEnabled", "mailNickname"} & set(changed):
                _refresh_group_mail(group, tenant)
                changed.append("mail")
            if changed:
                tenant.record_group(group.object_id, UPDATED, changed)
        return sorted(changed)

    def group_delete(self, tenant: TenantDirectory, reference: str) -> str:
        """Delete a group for good (security groups are not restorable); it leaves the groups it was in."""
        group = self.group(tenant, reference)
        with self.state.lock:
            self._leave_groups(tenant, group.object_id)
            del tenant.groups[group.object_id]
            tenant.record_group(group.object_id, PURGED)
        return group.object_id

    def members_add(self, tenant: TenantDirectory, reference: str, members: Iterable[str]) -> list[str]:
        group = self.group(tenant, reference)
        resolved = [self._member_id(tenant, member) for member in members]
        added = []
        with self.state.lock:
            for member_id in resolved:
                if member_id == group.object_id:
                    raise DirectoryError("a group cannot be a member of itself")
                if group.members.add(member_id):
                    member_type = self.member_type(tenant, member_id)
                    tenant.record_membership(group.object_id, member_id, member_type, added=True)
                    added.append(member_id)
        return added

    def members_remove(self, tenant: TenantDirectory, reference: str, members: Iterable[str]) -> list[str]:
        group = self.group(tenant, reference)
        resolved = [self._member_id(tenant, member) for member in members]
        removed = []
        with self.state.lock:
            for member_id in resolved:
                if group.members.remove(member_id):
                    member_type = self.member_type(tenant, member_id)
                    tenant.record_membership(group.object_id, member_id, member_type, added=False)
                    removed.append(member_id)
        return removed

    def _member_id(self, tenant: TenantDirectory, reference: str) -> str:
        user = self.user(tenant, reference)
        if user is not None:
            return user.object_id
        try:
            return self.group(tenant, reference).object_id
        except DirectoryLookupError:
            raise DirectoryLookupError(f"no user or group {reference} in {tenant.directory.display_name}") from None


def _refresh_group_mail(group: Group, tenant: TenantDirectory) -> None:
    group.mail = f"{group.mail_nickname}@{tenant.directory.primary_domain}" if group.mail_enabled else None


def _apply_user_fields(user: User, fields: Mapping[str, Any]) -> set[str]:
    """Write Graph-named fields onto ``user``; the Graph properties whose value changed."""
    changed: set[str] = set()
    for name, value in fields.items():
        if name == "onPremisesExtensionAttributes":
            if _apply_extension_attributes(user, value):
                changed.add(name)
        elif name == "employeeOrgData":
            org = dict(value or {})
            new = (org.get("costCenter", user.cost_center), org.get("division", user.division))
            if new != (user.cost_center, user.division):
                user.cost_center, user.division = new
                changed.add(name)
        # Emulator-only: the password they sign in with, their active directory roles' template ids (``wids``).
        elif name == "directoryRoles":
            user.directory_roles = [str(role).lower() for role in value or ()]
        elif name == "password":
            user.password = str(value)
        elif name in USER_WRITABLE:
            attribute = USER_WRITABLE[name]
            new = _user_value(attribute, value)
            if getattr(user, attribute) != new:
                setattr(user, attribute, new)
                changed.add(name)
        else:
            raise DirectoryError(f"{name} is not a writable user property")
    return changed


def _user_value(attribute: str, value: Any) -> Any:
    if attribute == "enabled":
        if not isinstance(value, bool):
            raise DirectoryError("accountEnabled must be true or false")
        return value
    if attribute == "business_phones":
        return tuple(str(v) for v in value or ())
    if attribute == "user_type" and value not in ("Member", "Guest"):
        raise DirectoryError("userType must be 'Member' or 'Guest'")
    if attribute == "upn":
        return str(value).strip().lower()
    return None if value is None else str(value)


def _apply_extension_attributes(user: User, value: Mapping[str, Any] | None) -> bool:
    current = dict(user.extension_attributes or {})
    for name, attribute_value in (value or {}).items():
        if name not in EXTENSION_ATTRIBUTES:
            raise DirectoryError(f"{name} is not one of extensionAttribute1..15")
        if attribute_value is None:
            current.pop(name, None)
        else:
            current[name] = str(attribute_value)
    new = current or None
    if new == user.extension_attributes:
        return False
    user.extension_attributes = new
    return True


def directory_store(state: State) -> DirectoryStore:
    """The directories of this emulator state (rebuilt from the seed after a reset)."""
    return state_extension(state, DirectoryStore)
