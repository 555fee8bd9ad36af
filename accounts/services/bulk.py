"""Bulk writes of users, groups, cost centers, aliases and memberships for a directory synchronization (User
Synchronization writes a page of a directory at a time): a constant number of statements whatever a page holds."""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from django.db import connection, models
from django.db.models import F

from accounts.lookups import AnyOf, array_literal
from accounts.models import Alias, CostCenter, Group, GroupMembership, Tenant, User


def user_unsaved(**values: Any) -> User:
    """A user's values, not saved: a template for `users_insert`, or the changed fields of a row for `users_update`
    (a holder's address and name for a message)."""
    return User(**values)


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


def groups_create(*, tenant: Tenant, directory_id: str, names: Mapping[str, str]) -> dict[str, Group]:
    """Create the directory's groups `names` (object id -> name) in one statement; the groups by object id."""
    made = {
        object_id: Group(tenant=tenant, name=name, directory_tenant_id=directory_id, directory_object_id=object_id)
        for object_id, name in names.items()
    }
    if made:
        Group.objects.bulk_create(list(made.values()))
    return made


def attribute_groups_create(*, tenant: Tenant, directory_id: str, names: Mapping[str, str]) -> None:
    """Create the groups made from a user attribute (name -> object id), those that exist already left as they
    are."""
    Group.objects.bulk_create(
        [
            Group(tenant=tenant, name=name, directory_tenant_id=directory_id, directory_object_id=object_id)
            for name, object_id in names.items()
        ],
        ignore_conflicts=True,
    )


def groups_rename(groups: list[Group]) -> None:
    """Write the groups' new names in one statement."""
    Group.objects.bulk_update(groups, ["name"])


def groups_delete(*, ids: Collection[int]) -> None:
    Group.objects.filter(pk__in=ids).delete()


def memberships_delete(*, ids: Collection[int]) -> None:
    GroupMembership.objects.filter(pk__in=ids).delete()


def memberships_clear(*, group_ids: Collection[int]) -> None:
    """The groups have no members any more."""
    GroupMembership.objects.filter(group_id__in=group_ids).delete()


def cost_centers_create(*, tenant: Tenant, names: Iterable[str]) -> None:
    """Create the tenant's cost centers `names` (not a directory's), those that exist already left as they are."""
    CostCenter.objects.bulk_create([CostCenter(tenant=tenant, name=name) for name in names], ignore_conflicts=True)


def users_cost_centers_clear(*, tenant: Tenant, cost_center_ids: Collection[int]) -> None:
    """The users of these cost centers have none any more."""
    User.objects.filter(tenant=tenant, cost_center_id__in=cost_center_ids).update(cost_center=None)


def aliases_replace(*, tenant: Tenant, stale: Collection[int], new: Iterable[tuple[int, str]]) -> None:
    """Delete the aliases `stale` (ids) and add `new` (user id, alias), those taken meanwhile left out."""
    if stale:
        Alias.objects.filter(pk__in=stale).delete()
    added = [Alias(user_id=user_id, tenant=tenant, name=name) for user_id, name in new]
    if added:
        Alias.objects.bulk_create(added, ignore_conflicts=True)


def users_update(users: list[User], fields: list[str]) -> None:
    """Write `fields` of many users in one statement. On PostgreSQL an UPDATE ... FROM unnest(arrays): Django's
    bulk_update builds a CASE per field and row, which costs more than the page's other writes together."""
    if not users:
        return
    if connection.vendor != "postgresql":
        User.objects.bulk_update(users, fields)
        return
    meta = User._meta
    columns, arrays, types = ["id"], [[u.pk for u in users]], ["bigint[]"]
    for name in fields:
        field = meta.get_field(name)
        assert isinstance(field, models.Field) and field.column
        columns.append(field.column)
        arrays.append([getattr(u, field.attname) for u in users])
        types.append("bigint[]" if isinstance(field, models.ForeignKey) else "text[]")
    unnest = ", ".join(f"%s::{kind}" for kind in types)
    assignments = ", ".join(f'"{c}" = v."{c}"' for c in columns[1:])
    names = ", ".join(f'"{c}"' for c in columns)
    statement = f'UPDATE "{meta.db_table}" AS u SET {assignments} FROM unnest({unnest}) AS v({names}) '  # noqa: S608
    with connection.cursor() as cursor:
        # Names come from the model, values are parameters.
        cursor.execute(statement + 'WHERE u."id" = v."id"', arrays)


def users_insert(template: User, varying: Mapping[str, list[str]]) -> list[int]:
    """Insert new users in one statement; their pks, in the order of `varying`'s lists.

    Each user is `template` but for the text fields named in `varying` (attname: one value per user). On
    PostgreSQL an INSERT ... SELECT FROM unnest(arrays): the template's values go through each field's own
    preparation (defaults, pre_save) once and are sent as one value each, the varying ones (strings made by the
    caller) as one array per column. Django's bulk_create builds a model per row, then a placeholder and a
    prepared parameter per field and row (about 30 of each per user), which cost more than the rest of a page. No
    signals, as with bulk_create."""
    count = len(next(iter(varying.values())))
    if not count:
        return []
    meta = User._meta
    if connection.vendor != "postgresql":
        users = [copy.copy(template) for _ in range(count)]
        for name, column_values in varying.items():
            for user, value in zip(users, column_values, strict=True):
                setattr(user, name, value)
        return [user.pk for user in User.objects.bulk_create(users)]
    fields = [f for f in meta.concrete_fields if not f.primary_key and not f.generated]
    names = ", ".join(f'"{f.column}"' for f in fields)
    chosen: list[str] = []
    values: list[Any] = []
    arrays: list[list[str]] = []
    unnest: list[str] = []
    columns: list[str] = []
    for column in fields:
        kind = column.db_type(connection)
        if column.attname in varying:
            assert isinstance(column, (models.CharField, models.TextField))  # strings need no preparation
            chosen.append(f'v."{column.column}"')
            arrays.append(varying[column.attname])
            unnest.append(f"%s::{kind}[]")
            columns.append(f'"{column.column}"')
        else:
            chosen.append(f"%s::{kind}")
            values.append(column.get_db_prep_save(column.pre_save(template, True), connection))
    email = meta.get_field("email")
    assert isinstance(email, models.Field)
    statement = (
        f'INSERT INTO "{meta.db_table}" ({names}) SELECT {", ".join(chosen)} '  # noqa: S608
        f"FROM unnest({', '.join(unnest)}) AS v({', '.join(columns)}) "
        f'RETURNING "{meta.pk.column}", "{email.column}"'  # type: ignore[union-attr]
    )
    with connection.cursor() as cursor:
        # Names and types come from the model, values are parameters.
        cursor.execute(statement, [*values, *(array_literal(array) for array in arrays)])
        made = {address.lower(): pk for pk, address in cursor.fetchall()}
    # Matched on the email (unique within the tenant, which all share): RETURNING's order is not promised.
    return [made[address.lower()] for address in varying["email"]]


def memberships_insert(pairs: list[tuple[int, int]]) -> None:
    """Insert (group id, user id) memberships in one statement, the ones that exist already left as they are; on
    PostgreSQL from two arrays, without a model instance per row."""
    if not pairs:
        return
    if connection.vendor != "postgresql":
        GroupMembership.objects.bulk_create(
            [GroupMembership(group_id=group_id, user_id=user_id) for group_id, user_id in pairs],
            ignore_conflicts=True,
        )
        return
    table = GroupMembership._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{table}" ("group_id", "user_id") SELECT * FROM unnest(%s::bigint[], %s::bigint[]) '  # noqa: S608
            "ON CONFLICT DO NOTHING",
            [array_literal(group_id for group_id, _ in pairs), array_literal(user_id for _, user_id in pairs)],
        )


def memberships_write(pairs: list[tuple[int, str]], tenant_id: int, directory: str, *, remove: bool) -> int:
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


def cost_centers_assign(assignments: list[tuple[int, str, bool]], tenant: Any, directory: str) -> None:
    """A directory's root group's child groups' members (cost center pk, member object id, removed): added, the
    user's cost center; removed, none (if it was that one)."""
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
            assigned[user_pk] = user_unsaved(pk=user_pk, cost_center_id=center)
        elif cost_center_id == center:
            users[member] = (user_pk, None)
            assigned[user_pk] = user_unsaved(pk=user_pk, cost_center_id=None)
    if assigned:
        users_update(list(assigned.values()), ["cost_center"])
