"""Importing users from a CSV or Excel file: a preview that writes no user, then the import, both in the background.

Each phase reads the file from the start, one batch of rows at a time (constant queries per batch, one batch in
memory, plus the emails, cards and aliases seen so far to spot duplicates in the file). Rows are matched on email
within the Roger tenant: a new email makes a local user, a known one updates the columns the file fills (an empty
cell leaves the value as it is), so importing the same file twice changes nothing the second time. A batch's users,
its rows' outcomes and the position reached commit together: a worker that dies resumes after the last batch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.choices import Role, UserSource
from accounts.errors import LastAdminError
from accounts.selectors import alias_list, user_list
from accounts.services import (
    NewLocalUser,
    local_users_create,
    statistics_due,
    user_role_set,
    users_aliases_set,
    users_profiles_save,
    users_statistics_refresh,
)
from audit.services import audit_record, audit_record_many
from background.claims import Claim, work_claim, work_release, work_renew
from background.kinds import work_queue
from users_admin.choices import ImportPhase, ImportStatus, RowAction
from users_admin.models import UserImport, UserImportRow
from users_admin.services import invitation_send
from users_admin.spreadsheet import ImportFileError, file_format_of, rows_read

if TYPE_CHECKING:
    from accounts.models import Tenant, User

logger = logging.getLogger(__name__)

BATCH = 1000
LEASE = timedelta(minutes=5)
ROLES = {"admin": Role.ADMIN, "tenant admin": Role.ADMIN, "administrator": Role.ADMIN, "user": Role.USER}
MAX_BYTES_DEFAULT = 100 * 1024 * 1024


# --- starting and confirming ----------------------------------------------------------------------------------


def import_start(*, tenant: Tenant, actor: User, upload: File, send_invitations: bool = False) -> UserImport:  # type: ignore[type-arg]
    """Keep the uploaded file and check it in the background (the preview)."""
    name = str(upload.name or "users.csv")
    file_format = file_format_of(name)
    if file_format is None:
        raise ImportFileError("Upload a .csv or an .xlsx file.")
    with transaction.atomic():
        user_import = UserImport(
            tenant=tenant,
            created_by=actor,
            file_name=name[:255],
            file_format=file_format,
            send_invitations=send_invitations,
            next_attempt_at=timezone.now(),
        )
        user_import.file.save(name, upload, save=False)
        user_import.save()
        audit_record(
            tenant=tenant, actor=actor, action="user_import.uploaded", target=user_import, details={"file": name}
        )
        _queue(user_import.pk)
    return user_import


def import_apply(user_import: UserImport, *, actor: User) -> bool:
    """The admin confirmed the preview: the import runs. False when it was not waiting for a confirmation."""
    with transaction.atomic():
        started = UserImport.objects.filter(pk=user_import.pk, status=ImportStatus.PREVIEW).update(
            status=ImportStatus.APPLYING,
            phase=ImportPhase.APPLY,
            rows_done=0,
            counts={},
            applied_by=actor,
            next_attempt_at=timezone.now(),
            attempts=0,
        )
        if not started:
            return False
        audit_record(actor=actor, action="user_import.started", target=user_import)
        _queue(user_import.pk)
    user_import.refresh_from_db()
    return True


def _queue(import_id: int) -> None:
    from users_admin.tasks import user_import_task  # the tasks module imports this one

    work_queue(user_import_task, import_id)


# --- the background work ----------------------------------------------------------------------------------------


def import_work(*, import_id: int) -> UserImport | None:
    """Run (or resume) the phase under way to its end; None when another worker has it or nothing is due."""
    claim = work_claim(UserImport.objects.filter(status__in=ImportStatus.working()), import_id, lease=LEASE)
    if claim is None:
        return None
    user_import = UserImport.objects.select_related("tenant", "applied_by").get(pk=import_id)
    try:
        _run(user_import, claim)
    except ImportFileError as exc:
        _finish(user_import, claim, status=ImportStatus.FAILED, error=str(exc))
    except Exception:
        logger.exception("User import %s failed", import_id)
        _finish(user_import, claim, status=ImportStatus.FAILED, error="The import stopped on an unexpected error.")
    else:
        done = ImportStatus.PREVIEW if user_import.phase == ImportPhase.PREVIEW else ImportStatus.DONE
        _finish(user_import, claim, status=done)
    user_import.refresh_from_db()
    return user_import


def _finish(user_import: UserImport, claim: Claim, *, status: str, error: str = "") -> None:
    fields: dict[str, object] = {"status": status, "error": error[:500], "next_attempt_at": None}
    if status == ImportStatus.PREVIEW:
        fields["preview_counts"] = UserImport.objects.get(pk=user_import.pk).counts
    if status in (ImportStatus.DONE, ImportStatus.FAILED):
        fields["finished_at"] = timezone.now()
    with transaction.atomic():
        released = work_release(UserImport.objects.all(), claim, **fields)
        if released and status != ImportStatus.PREVIEW:
            counts = UserImport.objects.get(pk=user_import.pk).counts
            audit_record(
                actor=user_import.applied_by,
                action=f"user_import.{status}",
                target=user_import,
                details={"counts": counts, **({"error": error} if error else {})},
            )
    if released and status in (ImportStatus.DONE, ImportStatus.FAILED) and user_import.file:
        user_import.file.delete(save=False)  # it holds PINs in clear; the rows keep what the admin may read again
        UserImport.objects.filter(pk=user_import.pk).update(file="")


@dataclass
class Seen:
    """What earlier rows of the file used: a later row with the same email, card or alias is a duplicate."""

    emails: dict[str, int] = field(default_factory=dict)
    cards: dict[str, int] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)


@dataclass
class Row:
    number: int
    email: str
    values: dict[str, str]
    aliases: list[str]
    action: str = ""
    detail: str = ""
    user: User | None = None
    changes: list[str] = field(default_factory=list)
    file_refusal: str = ""  # why the file alone refuses the row

    def refuse(self, reason: str) -> None:
        if not self.action:
            self.action, self.detail = RowAction.REFUSED, reason


def _run(user_import: UserImport, claim: Claim) -> None:
    seen = Seen()
    position = 0
    created = 0  # users this run created, for the statistics
    batch: list[Row] = []
    with user_import.file.open("rb") as file, closing(rows_read(file, user_import.file_format)) as rows:
        for number, values in rows:
            row = _row(number, values, seen)
            position += 1
            if position <= user_import.rows_done:
                continue  # done before a restart; read again only for `seen`
            batch.append(row)
            if len(batch) >= BATCH:
                made = _batch(user_import, batch)
                if statistics_due(created, created + made):
                    users_statistics_refresh()  # after the batch's commit, before the next batch's lookups
                created += made
                batch = []
                work_renew(UserImport.objects.all(), claim, lease=LEASE)
        if batch:
            _batch(user_import, batch)


def _row(number: int, values: dict[str, str], seen: Seen) -> Row:
    """The checks that need nothing but the file (so a resumed run rebuilds `seen` the same way)."""
    email = values.get("email", "").strip().lower()
    names = [a.strip() for a in values.get("aliases", "").replace(",", ";").split(";") if a.strip()]
    row = Row(number=number, email=email, values=values, aliases=list({a.lower(): a for a in names}.values()))
    _file_checks(row, seen)
    row.file_refusal = row.detail if row.action else ""
    return row


def _file_checks(row: Row, seen: Seen) -> None:
    number, email, values, aliases = row.number, row.email, row.values, row.aliases
    try:
        validate_email(email)
    except ValidationError:
        row.refuse(f"Invalid email: {email!r}." if email else "No email.")
        return
    if email in seen.emails:
        row.refuse(f"Duplicate in the file: row {seen.emails[email]} has the same email.")
    else:
        seen.emails[email] = number
    role = values.get("role", "").strip().lower()
    if role and role not in ROLES:
        row.refuse(f"The role {values['role']!r} does not exist: use admin or user.")
    if len(values.get("full_name", "")) > 200:
        row.refuse("The name is longer than 200 characters.")
    card = values.get("card", "")
    if len(card) > 100:
        row.refuse("The card is longer than 100 characters.")
    elif card:
        first = seen.cards.setdefault(card, number)
        if first != number:
            row.refuse(f"Duplicate in the file: row {first} has the same card.")
    for alias in aliases:
        if len(alias) > 200:
            row.refuse("An alias is longer than 200 characters.")
            continue
        first = seen.aliases.setdefault(alias.lower(), number)
        if first != number:
            row.refuse(f"Duplicate in the file: row {first} has the alias {alias}.")
    pin = values.get("pin", "")
    if pin and not (pin.isdigit() and 4 <= len(pin) <= 12):
        row.refuse("A PIN is 4 to 12 digits.")


def _plan(tenant: Tenant, rows: list[Row]) -> None:
    """The checks against the tenant's users, a constant number of queries per batch."""
    emails = [row.email for row in rows if not row.action]
    existing = {
        user.email: user
        for user in user_list(tenant=tenant).filter(email__in=emails).prefetch_related("sign_in_aliases")
    }
    cards = [row.values["card"] for row in rows if not row.action and row.values.get("card")]
    # exclude(card=""): the condition of the partial unique index, so PostgreSQL reads that index for the IN list
    card_owners = dict(
        user_list(tenant=tenant).filter(card__in=cards).exclude(card="").order_by().values_list("card", "email")
    )
    names = [alias.lower() for row in rows if not row.action for alias in row.aliases]
    alias_owners = dict(  # user ids, not emails: a join to the users would read every user of the tenant
        alias_list(tenant=tenant).filter(name_lower__in=names).order_by().values_list("name_lower", "user_id")
    )
    for row in rows:
        if row.action:
            continue
        user = existing.get(row.email)
        if user is not None and user.source == UserSource.SYNCED:
            row.refuse("A synchronized user: the directory owns it, change it in Microsoft Entra ID.")
            continue
        card = row.values.get("card", "")
        if card and card_owners.get(card, row.email) != row.email:
            row.refuse(f"The card belongs to another user ({card_owners[card]}).")
            continue
        own_id = user.pk if user is not None else None
        taken = [a for a in row.aliases if alias_owners.get(a.lower(), own_id) != own_id]
        if taken:
            row.refuse(f"Already another user's alias: {', '.join(taken)}.")
            continue
        row.user = user
        if user is None:
            row.action = RowAction.CREATE
            continue
        row.changes = _changes(user, row)
        row.action = RowAction.UPDATE if row.changes else RowAction.UNCHANGED
        row.detail = ", ".join(row.changes)


def _changes(user: User, row: Row) -> list[str]:
    values, changes = row.values, []
    if values.get("full_name") and values["full_name"] != user.full_name:
        changes.append("name")
    role = ROLES.get(values.get("role", "").lower())
    if role and role != user.role:
        changes.append("role")
    if row.aliases and sorted(a.lower() for a in row.aliases) != sorted(
        a.name.lower() for a in user.sign_in_aliases.all()
    ):
        changes.append("aliases")
    if values.get("card") and values["card"] != user.card:
        changes.append("card")
    if values.get("pin") and not user.check_pin(values["pin"]):
        changes.append("pin")
    return changes


def _batch(user_import: UserImport, rows: list[Row]) -> int:
    """Plan, write and record a batch in one transaction; the number of users it created."""
    tenant = user_import.tenant
    phase = user_import.phase
    for attempt in (1, 2):
        for row in rows:  # a second attempt plans again from what the file alone says
            row.action = RowAction.REFUSED if row.file_refusal else ""
            row.detail, row.user, row.changes = row.file_refusal, None, []
        _plan(tenant, rows)
        try:
            with transaction.atomic():
                if phase == ImportPhase.APPLY:
                    _apply(user_import, rows)
                _record(user_import, rows)
            return sum(1 for row in rows if row.action == RowAction.CREATE) if phase == ImportPhase.APPLY else 0
        except IntegrityError:
            if attempt == 2:
                raise
            logger.info("User import %s: a row changed meanwhile, planning the batch again", user_import.pk)
    raise AssertionError("unreachable: the second attempt returns or raises")


def _apply(user_import: UserImport, rows: list[Row]) -> None:
    tenant, actor = user_import.tenant, user_import.applied_by
    # Role changes one by one: the tenant's last active admin keeps the role.
    for row in rows:
        if row.action == RowAction.UPDATE and "role" in row.changes and row.user is not None:
            try:
                user_role_set(row.user, actor=actor, role=ROLES[row.values["role"].lower()])
            except LastAdminError as exc:
                row.action, row.detail = RowAction.REFUSED, str(exc)
    creates = [row for row in rows if row.action == RowAction.CREATE]
    new_users = local_users_create(
        tenant=tenant,
        users=[
            NewLocalUser(
                email=row.email,
                full_name=row.values.get("full_name", ""),
                role=ROLES.get(row.values.get("role", "").lower(), Role.USER),
                card=row.values.get("card", ""),
                pin=row.values.get("pin", ""),
            )
            for row in creates
        ],
    )
    for row, user in zip(creates, new_users, strict=True):
        row.user = user
    updates = [row for row in rows if row.action == RowAction.UPDATE]
    changed_users = []
    for row in updates:
        changed = row.user
        assert changed is not None
        if "name" in row.changes:
            changed.full_name = row.values["full_name"]
        if "card" in row.changes:
            changed.card = row.values["card"]
        if "pin" in row.changes:
            changed.set_pin(row.values["pin"])
        changed_users.append(changed)
    users_profiles_save(changed_users)
    replaced = [row for row in updates if "aliases" in row.changes]
    users_aliases_set(
        tenant=tenant,
        aliases=[(row.user, row.aliases) for row in [*creates, *replaced] if row.user is not None],
        replace=[row.user for row in replaced if row.user is not None],
    )
    details = {"import": user_import.pk, "file": user_import.file_name}
    audit_record_many(tenant=tenant, actor=actor, action="user.created", targets=new_users, details=details)
    audit_record_many(tenant=tenant, actor=actor, action="user.updated", targets=changed_users, details=details)
    if user_import.send_invitations:
        for user in new_users:
            invitation_send(user, actor=actor)


def _record(user_import: UserImport, rows: list[Row]) -> None:
    UserImportRow.objects.bulk_create(
        [
            UserImportRow(
                user_import=user_import,
                phase=user_import.phase,
                number=row.number,
                email=row.email[:254],
                action=row.action,
                detail=row.detail[:500],
            )
            for row in rows
        ],
        ignore_conflicts=True,  # a batch recorded by a worker that died after its commit is never recorded twice
    )
    counts = dict(UserImport.objects.select_for_update().values_list("counts", flat=True).get(pk=user_import.pk))
    for row in rows:
        counts[row.action] = counts.get(row.action, 0) + 1
    user_import.rows_done += len(rows)
    UserImport.objects.filter(pk=user_import.pk).update(rows_done=user_import.rows_done, counts=counts)


def result_lines(user_import: UserImport, phase: str) -> Iterator[list[object]]:
    """The rows' outcomes, for the downloadable result file."""
    yield ["row", "email", "action", "detail"]
    rows = user_import.rows.filter(phase=phase).order_by("number")
    for number, email, action, detail in rows.values_list("number", "email", "action", "detail").iterator(2000):
        yield [number, email, RowAction(action).label, detail]
