"""A run, read by short tasks (`background.claims`), a few Graph pages a step: memory stays flat as the directory
grows and no task runs long enough for the broker to redeliver it.

Each step takes pages read with no lock held, then, in one transaction that checks the claim still holds, writes
them and saves the position (the last one's next link): a worker killed before the commit leaves the old position
(the pages are read again), one killed after it leaves the new one (no page is applied twice). A task claims the
run once and takes its pages for `USER_SYNC_TURN_SECONDS` (a turn): each transaction renews the lease, the last one
releases the run and queues the next task. While pages are written, the next ones are read (`calls.DeltaReader`,
up to `PAGES_PER_TRANSACTION` in a row); a step takes those that have arrived and applies them as one page when no
object is on two of them. At most one commit a page, and no task per page.

Phases: the selected groups' members (only when the sync is limited to them), the users, then the end of the run
(deactivations, or holding them back at the safety threshold, and the new delta links).

Failures: 429/503 with `Retry-After` make the next step due then (no request before it); other passing failures
back off; an expired delta link starts a full read, which the run's history notes; a missing consent or
permission stops the run with the fix.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings as django_settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.services import statistics_due, users_statistics_refresh
from accounts.services.bulk import directory_cost_centers_save, directory_groups_prune
from audit.services import audit_record
from background.claims import Claim, backoff_delay, work_claim, work_release, work_renew
from background.kinds import work_queue
from credentials.errors import CredentialError, CredentialUnavailable
from integrations.services.attention import features_consent_sync
from integrations.services.permissions import feature_permission_refused
from microsoft import errors as microsoft_errors
from microsoft.graph import DeltaPage, graph_url, groups_delta_url, removed_reason, users_delta_url
from user_sync import attributes
from user_sync.choices import ChangeAction, CostCenterMode, DeactivationState, Phase, RunStatus
from user_sync.models import Deactivation, SeenUser, SyncChange, SyncRun, SyncSettings
from user_sync.services import people
from user_sync.services.calls import PERMISSIONS, DeltaReader, listed
from user_sync.services.groups_page import groups_page_apply
from user_sync.services.pins import pin_emails_plan
from user_sync.services.runs import runs_open
from user_sync.services.users_page import (
    ATTRIBUTE_GROUP_PREFIX,
    not_seen_candidates,
    users_page_apply,
)

if TYPE_CHECKING:
    from integrations.models import Feature

logger = logging.getLogger(__name__)

RETRY_FIRST = timedelta(seconds=30)
RETRY_MAX = timedelta(minutes=30)
MAX_ATTEMPTS = 10
# A step's outcome when the turn goes on with the next page (the claim still held).
_MORE = "more"
# At most this many pages in one transaction: the reader reads them in a row while the pages before them are
# written, and they are written together, so the transaction's BEGIN, the run's UPDATE and the COMMIT, and (when
# they are applied as one) each lookup's and each INSERT's round trip and planning, are paid once for them rather
# than a page (a page's fixed cost was about a third of a 100,000-user first sync). A worker that dies while the
# pages are written or read loses no applied page: the position is saved with their writes.
PAGES_PER_TRANSACTION = 4


@dataclass
class _Turn:
    """A task's hold on a run: the claim, kept from page to page until `until` (monotonic), the pages' reader, and
    the run as the last page left it (`run`: the next page starts from it, not from a read of the row)."""

    claim: Claim
    lease: timedelta
    until: float
    reader: DeltaReader = field(default_factory=lambda: DeltaReader(depth=PAGES_PER_TRANSACTION))
    run: SyncRun | None = None

    def goes_on(self) -> bool:
        return time.monotonic() < self.until


class _Lost(Exception):
    """The claim no longer holds (the lease ran out and another worker took the run, or the run was stopped)."""


def users_select(settings: SyncSettings) -> list[str]:
    """Exactly the user properties the settings use (Graph tracks only these)."""
    names = list(attributes.BASE_SELECT)
    used: list[str] = []
    if settings.alias_formats:
        used += attributes.alias_fields(settings.alias_formats)
    if settings.card_attribute:
        used.append(settings.card_attribute)
    if settings.sync_groups and settings.selection_mode == "attribute" and settings.group_attribute:
        used.append(settings.group_attribute)
    if settings.cost_center_mode == "attribute" and settings.cost_center_attribute:
        used.append(settings.cost_center_attribute)
    for name in used:
        prop = attributes.graph_property(name)
        if prop not in names:
            names.append(prop)
    return names


def run_step(*, run_id: int) -> str:
    """The steps of a run for one turn, if it is due and no other worker holds it; returns what the last step did
    (for the log)."""
    lease = timedelta(seconds=django_settings.USER_SYNC_LEASE_SECONDS)
    claim = work_claim(runs_open(), run_id, lease=lease)
    if claim is None:
        return "skipped"
    turn = _Turn(claim=claim, lease=lease, until=time.monotonic() + django_settings.USER_SYNC_TURN_SECONDS)
    run = _run_read(run_id)
    try:
        with _turn_settings():
            outcome = _step(run, turn)
            while outcome == _MORE and turn.run is not None:
                run, turn.run = turn.run, None
                outcome = _step(run, turn)
        return outcome
    except Exception as exc:
        logger.exception("User Synchronization run %s failed", run_id)
        _fail(run, claim, f"An unexpected error stopped the run ({type(exc).__name__}). It can be started again.")
        return "failed"
    finally:
        turn.reader.close()


@contextmanager
def _turn_settings() -> Iterator[None]:
    """Three settings of this connection until the turn ends, set and reset with one statement each.

    The turn's commits return before PostgreSQL has flushed them to disk (`synchronous_commit` off): a commit is a
    few milliseconds of a page's time, and a page commits its position with its writes, so a commit lost to a crash
    of the database server loses both, and the run reads that page again, as it would after a killed worker.
    Nothing else is lost: the data comes from the directory.

    No parallel plans (`max_parallel_workers_per_gather` 0): a page's statements read a few hundred rows by index,
    and from about 50,000 users PostgreSQL planned a users page's lookup (two index scans under a UNION ALL) as a
    Parallel Append under a Gather, whose workers' start cost 36 ms a page for 1.5 ms of index scans.

    Index probes priced as what they are here (`random_page_cost` 1.1, the value PostgreSQL's documentation gives
    for data in memory or on SSD, rather than 4 for spinning disks): the pages written together look up 1,000 to
    2,000 ids at once, and at 100,000 users the default price made PostgreSQL read every user of the tenant instead
    (28.6 ms against 17.9 ms for 2,000 members' ids; the same plan as 1.1 up to 1,000)."""
    if connection.vendor != "postgresql":  # the demo's SQLite has neither setting
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SET synchronous_commit TO off; SET max_parallel_workers_per_gather TO 0; SET random_page_cost TO 1.1"
        )
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "RESET synchronous_commit; RESET max_parallel_workers_per_gather; RESET random_page_cost"
                )
        except DatabaseError:  # a broken connection is closed and made again: it keeps no setting
            logger.warning("User Synchronization could not reset the turn's settings", exc_info=True)


def _run_read(run_id: int) -> SyncRun:
    return SyncRun.objects.select_related(
        "tenant", "settings__tenant", "settings__feature__app_registration", "settings__feature__tenant"
    ).get(pk=run_id)


def _step(run: SyncRun, turn: _Turn) -> str:
    claim = turn.claim
    settings = run.settings
    feature = settings.feature
    if feature is None or not feature.enabled:
        return _fail(run, claim, "User Synchronization was turned off while the run was under way.")
    if run.started_at is None:
        _begin(run, settings)
    if run.phase == Phase.SCOPE:
        return _scope(run, settings, feature, claim)
    if run.phase == Phase.USERS:
        return _users_page(run, settings, feature, turn)
    if run.phase == Phase.GROUPS:
        return _groups_page(run, settings, feature, turn)
    return _finish(run, settings, claim)


def _begin(run: SyncRun, settings: SyncSettings) -> None:
    now = timezone.now()
    notes = list(run.notes)
    full = False
    tracked = {"users": users_select(settings)}
    if run.is_preview:
        notes.append("A preview: nothing is written to users.")
    if not settings.users_delta_link:
        full = True
        notes.append("A full read of the directory (no change tracking kept yet).")
    elif settings.tracked.get("users") != tracked["users"]:
        full = True
        notes.append("The settings now read other attributes: a full read of the directory.")
    run.started_at, run.full_read, run.notes = now, full, notes
    run.phase = Phase.SCOPE if settings.scoped_to_members else Phase.USERS
    run.status = RunStatus.RUNNING
    SyncRun.objects.filter(pk=run.pk).update(
        started_at=now, full_read=full, notes=notes, phase=run.phase, status=RunStatus.RUNNING
    )


# --- the selected groups' members ----------------------------------------------------------------------------------


def _scope(run: SyncRun, settings: SyncSettings, feature: Feature, claim: Claim) -> str:
    members: set[str] = set()
    requests = 0
    try:
        for group_id in settings.selected_groups:
            url = graph_url(f"/groups/{group_id}/members", select=["id"])
            for member in listed(feature, url):
                if str(member.get("@odata.type", "#microsoft.graph.user")).endswith("user"):
                    members.add(str(member["id"]).lower())
            requests += 1
    except microsoft_errors.ResourceNotFound:
        return _fail(run, claim, f"A selected group is no longer in the directory ({group_id}): fix the settings.")
    except (microsoft_errors.MicrosoftError, CredentialError) as exc:
        return _trouble(run, feature, claim, exc)
    scope = sorted(members)
    digest = hashlib.sha256(",".join(scope).encode()).hexdigest()
    notes = list(run.notes)
    full = run.full_read
    if digest != settings.scope_digest and not full:
        full = True
        notes.append("The selected groups' members changed: a full read of the directory.")
    with transaction.atomic():
        locked = _locked(run, claim)
        if locked is None:
            return "lost"
        SyncRun.objects.filter(pk=run.pk).update(
            scope_ids=scope,
            full_read=full,
            notes=notes,
            phase=Phase.USERS,
            graph_requests=F("graph_requests") + requests,
        )
        _next(claim)
    return "scope read"


# --- users ---------------------------------------------------------------------------------------------------------


def _users_page(run: SyncRun, settings: SyncSettings, feature: Feature, turn: _Turn) -> str:
    url = (
        run.position
        or (settings.users_delta_link if not run.full_read else "")
        or users_delta_url(select=users_select(settings))
    )

    created: list[int] = []  # the run's created users before the transaction's first page and after its last

    def apply(run: SyncRun, items: Sequence[dict[str, Any]]) -> tuple[dict[str, int], dict[str, Any]]:
        counts = users_page_apply(run=run, settings=settings, items=items)
        created[:] = [created[0] if created else run.created, run.created + counts.created]
        added = {
            "users_seen": counts.users,
            "created": counts.created,
            "updated": counts.updated,
            "linked": counts.linked,
            "reactivated": counts.reactivated,
            "unchanged": counts.unchanged,
            "conflicts": counts.conflicts,
            "errors": counts.errors,
        }
        return added, {}

    following = Phase.GROUPS if settings.groups_read else Phase.FINISHING
    outcome = _delta_page_step(
        run,
        feature,
        turn,
        url=url,
        restart=_restart_full,
        apply=apply,
        link_field="new_users_link",
        following=following,
        repeats=False,
    )
    if outcome in ("page", _MORE) and created and statistics_due(*created):
        users_statistics_refresh()  # after the page's commit
    return outcome


def _delta_page_step(
    run: SyncRun,
    feature: Feature,
    turn: _Turn,
    *,
    url: str,
    restart: Callable[[SyncRun, Claim, microsoft_errors.DeltaExpired], str],
    apply: Callable[[SyncRun, Sequence[dict[str, Any]]], tuple[dict[str, int], dict[str, Any]]],
    link_field: str,
    following: str,
    repeats: bool,
) -> str:
    """The pages of a delta read (users or groups) that were read together (one, or up to the reader's depth when
    they were read ahead): read with no lock held, then applied (``apply`` returns the run's counters to add and
    its fields to set; at once when that is the same as page by page, see `_applied_together`) and the position
    saved under the claim; the round's last page stores its delta link in ``link_field`` and moves the run to the
    ``following`` phase. While the turn goes on, the claim is kept (its lease renewed by the same UPDATE) and the
    next pages are read during these ones' writes: `_MORE`.

    The pages' writes and the run's UPDATE are one transaction, and that UPDATE is conditional on the claim
    (`work_renew`, or `work_release` at the turn's end): when the claim no longer holds, it changes nothing and the
    writes are rolled back. The run the pages start from is the one the turn read after its claim, as the turn's
    own pages left it: nobody else writes a run while its claim holds."""
    claim = turn.claim
    try:
        pages = turn.reader.pages(feature, url)
    except microsoft_errors.DeltaExpired as exc:
        return restart(run, claim, exc)
    except (microsoft_errors.MicrosoftError, CredentialError) as exc:
        return _trouble(run, feature, claim, exc)
    last = pages[-1]
    next_link = last.next_link or ""
    goes_on = bool(next_link) and turn.goes_on()
    if goes_on:
        turn.reader.read_ahead(feature, next_link)
    try:
        with transaction.atomic():
            # The run as these pages leave it, from apply to apply: the turn's next step starts from it.
            added: dict[str, int] = {}
            values: dict[str, Any] = {}
            for objects in _applied_together(pages, repeats=repeats):
                page_added, page_values = apply(run, objects)
                for name, count in page_added.items():
                    added[name] = added.get(name, 0) + count
                    setattr(run, name, getattr(run, name) + count)
                values.update(page_values)
            values.update({"status": RunStatus.RUNNING, "error": ""})
            if next_link:
                values["position"] = next_link
            else:
                values.update({"position": "", link_field: last.delta_link or "", "phase": following})
            for name, value in values.items():
                setattr(run, name, value)
            for name in ("pages", "graph_requests"):
                added[name] = added.get(name, 0) + len(pages)
                setattr(run, name, getattr(run, name) + len(pages))
            fields = {**{name: F(name) + count for name, count in added.items()}, **values}
            if goes_on:
                if not work_renew(runs_open(), claim, lease=turn.lease, **fields):
                    raise _Lost
            elif not _next(claim, fields=fields):
                raise _Lost
    except _Lost:
        return "lost"
    if goes_on:
        turn.run = run
    return _MORE if goes_on else "page"


def _applied_together(pages: Sequence[DeltaPage], *, repeats: bool) -> list[Sequence[dict[str, Any]]]:
    """The objects of pages read together, as one list to apply at once when that is the same as applying them page
    by page: no object on two of them (`repeats`: a group whose members continue from page to page may be, unless
    one of its entries is a removal); else page by page."""
    if len(pages) == 1:
        return [pages[0].objects]
    merged = [item for page in pages for item in page.objects]
    ids = [str(item.get("id", "")).lower() for item in merged]
    times = Counter(ids)
    if len(times) == len(ids):
        return [merged]
    if repeats and all(
        times[object_id] == 1 for object_id, item in zip(ids, merged, strict=True) if removed_reason(item)
    ):
        return [merged]
    return [page.objects for page in pages]


def groups_signature(settings: SyncSettings) -> str:
    """What the groups part of a run reads and writes: when it changes, the groups are read in full."""
    return "|".join(
        (
            str(settings.sync_groups),
            settings.selection_mode,
            settings.selected_group_ids,
            settings.cost_center_mode,
            settings.cost_center_root_group_id,
        )
    )


# --- groups --------------------------------------------------------------------------------------------------------


def _groups_page(run: SyncRun, settings: SyncSettings, feature: Feature, turn: _Turn) -> str:
    if not run.position:
        return _groups_begin(run, settings, feature, turn.claim)

    def apply(run: SyncRun, items: Sequence[dict[str, Any]]) -> tuple[dict[str, int], dict[str, Any]]:
        counts = groups_page_apply(run=run, settings=settings, items=items)
        return {"groups_seen": counts.groups}, {"groups_done": run.groups_done}

    return _delta_page_step(
        run,
        feature,
        turn,
        url=run.position,
        restart=_groups_restart_full,
        apply=apply,
        link_field="new_groups_link",
        following=Phase.FINISHING,
        repeats=True,
    )


def _groups_begin(run: SyncRun, settings: SyncSettings, feature: Feature, claim: Claim) -> str:
    """The groups part starts: a full read or the stored link, and the root group's child groups (cost centers)."""
    full = (
        run.full_read or not settings.groups_delta_link or settings.tracked.get("groups") != groups_signature(settings)
    )
    centers: list[dict[str, Any]] = []
    requests = 0
    if settings.cost_center_mode == CostCenterMode.ROOT_GROUP and settings.cost_center_root_group_id:
        url = graph_url(f"/groups/{settings.cost_center_root_group_id}/members", select=["id", "displayName"])
        try:
            centers = [m for m in listed(feature, url) if str(m.get("@odata.type", "")).endswith("group")]
            requests += 1
        except microsoft_errors.ResourceNotFound:
            return _fail(run, claim, "The cost centers' root group is no longer in the directory: fix the settings.")
        except (microsoft_errors.MicrosoftError, CredentialError) as exc:
            return _trouble(run, feature, claim, exc)
    first = groups_delta_url(select=["displayName"], members=True)
    position = first if full else settings.groups_delta_link
    with transaction.atomic():
        locked = _locked(run, claim)
        if locked is None:
            return "lost"
        ids = [str(c["id"]).lower() for c in centers]
        if not locked.is_preview and settings.cost_center_mode == CostCenterMode.ROOT_GROUP:
            _cost_centers_save(locked, settings, centers)
        notes = list(locked.notes)
        if full and not locked.full_read and settings.groups_delta_link:
            notes.append("The group settings changed: the groups are read in full.")
        SyncRun.objects.filter(pk=run.pk).update(
            position=position,
            groups_full_read=full,
            groups_done=[],
            cost_center_ids=ids,
            notes=notes,
            graph_requests=F("graph_requests") + requests,
        )
        _next(claim)
    return "groups begin"


def _cost_centers_save(run: SyncRun, settings: SyncSettings, centers: list[dict[str, Any]]) -> None:
    # The root group's children are the cost centers: one no longer a child is none any more (its users lose it).
    names = {str(c["id"]).lower(): str(c.get("displayName") or c["id"])[:256] for c in centers}
    directory_cost_centers_save(tenant=run.tenant, directory_id=settings.directory_id, names=names)


def _groups_restart_full(run: SyncRun, claim: Claim, exc: microsoft_errors.DeltaExpired) -> str:
    notes = [*run.notes, "Microsoft no longer accepted the groups' change tracking: the groups are read in full."]
    with transaction.atomic():
        if _locked(run, claim) is None:
            return "lost"
        SyncRun.objects.filter(pk=run.pk).update(
            groups_full_read=True,
            groups_done=[],
            position=exc.resync_url or groups_delta_url(select=["displayName"], members=True),
            notes=notes,
            graph_requests=F("graph_requests") + 1,
        )
        _next(claim)
    return "groups full read"


def _restart_full(run: SyncRun, claim: Claim, exc: microsoft_errors.DeltaExpired) -> str:
    notes = [
        *run.notes,
        "Microsoft no longer accepted the stored change tracking (it keeps it 7 days, or reset it): a full read "
        "of the directory started.",
    ]
    with transaction.atomic():
        if _locked(run, claim) is None:
            return "lost"
        SyncRun.objects.filter(pk=run.pk).update(
            full_read=True,
            position=exc.resync_url or "",
            notes=notes,
            graph_requests=F("graph_requests") + 1,
        )
        _next(claim)
    return "full read"


# --- the end of a run ----------------------------------------------------------------------------------------------


def _finish(run: SyncRun, settings: SyncSettings, claim: Claim) -> str:
    with transaction.atomic():
        locked = _locked(run, claim)
        if locked is None:
            return "lost"
        synced = people.synced_users(tenant=run.tenant, directory_id=settings.directory_id).filter(is_active=True)
        gone = synced.none()
        if locked.full_read:
            gone = synced.filter(not_seen_candidates(run=locked, settings=settings))
        if settings.scoped_to_members:
            gone = gone | synced.exclude(directory_object_id__in=locked.scope_ids)
        outcome = _preview_end(locked, gone) if locked.is_preview else _sync_end(locked, settings, synced, gone)
        SeenUser.objects.filter(run=locked).delete()
        locked.refresh_from_db()
        audit_record(
            tenant=run.tenant,
            actor=None,
            action=f"user_sync.{locked.kind}_finished",
            target=locked,
            details=_summary(locked),
        )
    return outcome


def _preview_end(run: SyncRun, gone: Any) -> str:
    changes = [
        SyncChange(
            run=run,
            action=ChangeAction.DEACTIVATED,
            object_id=user.directory_object_id,
            name=str(user),
            detail="Would be deactivated: no longer in the directory, or outside what the settings synchronize.",
            user=user,
        )
        for user in gone.distinct()
    ]
    SyncChange.objects.bulk_create(changes)
    would = SyncChange.objects.filter(run=run, action=ChangeAction.DEACTIVATED).count()
    _close(run, RunStatus.SUCCEEDED, deactivated=would)
    return "preview done"


def _sync_end(run: SyncRun, settings: SyncSettings, synced: Any, gone: Any) -> str:
    for user in gone.distinct():
        Deactivation.objects.get_or_create(
            settings=settings,
            user=user,
            defaults={
                "tenant": run.tenant,
                "run": run,
                "reason": "no longer in the directory, or outside what the settings synchronize",
            },
        )
    waiting = Deactivation.objects.filter(
        settings=settings, state__in=(DeactivationState.CANDIDATE, DeactivationState.PENDING), user__is_active=True
    ).select_related("user")
    count = waiting.count()
    total = synced.count()
    notes = list(run.notes)
    links: dict[str, Any] = {
        "users_delta_link": run.new_users_link,
        "tracked": {"users": users_select(settings), "groups": groups_signature(settings)},
    }
    if settings.groups_read:
        links["groups_delta_link"] = run.new_groups_link
        if run.groups_full_read:
            _groups_not_seen_delete(run, settings)
    scope_digest = hashlib.sha256(",".join(run.scope_ids).encode()).hexdigest() if settings.scoped_to_members else ""
    if count and count * 100 > settings.threshold_percent * total:
        waiting.update(state=DeactivationState.PENDING)
        notes.append(
            f"{count} of {total} synchronized users would be deactivated, more than the safety threshold of "
            f"{settings.threshold_percent}%: the deactivations wait for an admin to confirm or keep them, and the "
            "next runs start from the same point."
        )
        SyncSettings.objects.filter(pk=settings.pk).update(links_held=True)
        asked = pin_emails_plan(run)
        if asked:
            notes.append(f"{asked} PIN emails wait for an admin to send them.")
        _close(run, RunStatus.HELD, held=count, notes=notes)
        return "held"
    rows = list(waiting)
    deactivated = deactivations_apply(run=run, rows=rows, actor=None)
    asked = pin_emails_plan(run)
    if asked:
        notes.append(
            f"{asked} new users would get a PIN email: a first sync asks before sending more than "
            f"{settings.pin_email_ask_above}. Send them from the User Synchronization page."
        )
    SyncSettings.objects.filter(pk=settings.pk).update(links_held=False, scope_digest=scope_digest, **links)
    _close(run, RunStatus.SUCCEEDED, deactivated=deactivated, notes=notes)
    return "done"


def _groups_not_seen_delete(run: SyncRun, settings: SyncSettings) -> None:
    """After a full read of the groups: the directory's groups it did not meet are gone (or no longer selected)."""
    directory_groups_prune(
        tenant=run.tenant,
        directory_id=settings.directory_id,
        seen=run.groups_done,
        selected=settings.selected_groups if settings.selection_mode == "selected" else None,
        keep_prefix=ATTRIBUTE_GROUP_PREFIX,
    )


def deactivations_apply(*, run: SyncRun | None, rows: list[Deactivation], actor: Any) -> int:
    """Deactivate the users of `rows` (their sessions end, their jobs are held, their history stays)."""
    if not rows:
        return 0
    people.users_deactivate(
        users=[row.user for row in rows], reasons={row.user_id: row.reason for row in rows}, actor=actor
    )
    if run is not None:
        SyncChange.objects.bulk_create(
            [
                SyncChange(
                    run=run,
                    action=ChangeAction.DEACTIVATED,
                    object_id=row.user.directory_object_id,
                    name=str(row.user),
                    detail=f"Deactivated: {row.reason}."
                    + (f" Confirmed by {actor.email}." if actor is not None else ""),
                    user=row.user,
                )
                for row in rows
            ]
        )
    Deactivation.objects.filter(pk__in=[row.pk for row in rows]).delete()
    return len(rows)


def _close(run: SyncRun, status: RunStatus, *, notes: list[str] | None = None, **counters: int) -> None:
    fields: dict[str, Any] = {
        "status": status,
        "phase": Phase.DONE,
        "finished_at": timezone.now(),
        "next_attempt_at": None,
        "lease_until": None,
        "lease_token": "",
        "attempts": 0,
        **counters,
    }
    if notes is not None:
        fields["notes"] = notes
    SyncRun.objects.filter(pk=run.pk).update(**fields)


def _summary(run: SyncRun) -> dict[str, Any]:
    return {
        "status": str(run.status),
        "full_read": run.full_read,
        "pages": run.pages,
        **{
            name: getattr(run, name)
            for name in ("created", "updated", "linked", "deactivated", "reactivated", "unchanged", "conflicts", "held")
        },
    }


# --- claims and failures -----------------------------------------------------------------------------------------


def _locked(run: SyncRun, claim: Claim) -> SyncRun | None:
    locked = SyncRun.objects.select_for_update().select_related("tenant").get(pk=run.pk)
    return locked if claim.holds(locked) and locked.is_open else None


def _next(claim: Claim, at: datetime | None = None, *, fields: dict[str, Any] | None = None) -> bool:
    """Let go of the run, writing `fields` with it (inside the transaction that wrote the step), and queue its next
    step once committed; False, writing and queueing nothing, when the claim no longer holds."""
    from user_sync.tasks import run_step_task  # the tasks module imports this one

    when = at or timezone.now()
    if not work_release(runs_open(), claim, next_attempt_at=when, attempts=0, **(fields or {})):
        return False
    if at is None:
        work_queue(run_step_task, claim.pk)
    else:
        work_queue(run_step_task, claim.pk, eta=at)
    return True


def _fail(run: SyncRun, claim: Claim, message: str) -> str:
    with transaction.atomic():
        locked = SyncRun.objects.select_for_update().get(pk=run.pk)
        if not claim.holds(locked):
            return "lost"
        SeenUser.objects.filter(run=locked).delete()
        _close(locked, RunStatus.FAILED, notes=[*locked.notes, message])
        SyncRun.objects.filter(pk=run.pk).update(error=message)
        audit_record(
            tenant=run.tenant, actor=None, action="user_sync.run_failed", target=run, details={"error": message}
        )
    return "failed"


def _trouble(run: SyncRun, feature: Feature, claim: Claim, exc: Exception) -> str:
    now = timezone.now()
    if isinstance(exc, CredentialUnavailable):
        features_consent_sync(tenant=run.tenant)
        return _fail(run, claim, exc.reason)
    if isinstance(exc, CredentialError):
        return _fail(run, claim, "Roger's stored Microsoft connection does not match this directory.")
    if isinstance(exc, microsoft_errors.PermissionMissing):
        feature_permission_refused(feature=feature, permissions=PERMISSIONS)
        return _fail(run, claim, exc.explanation)
    if isinstance(exc, microsoft_errors.TransientError):
        attempts = run.attempts + 1
        if exc.retry_after is not None:
            at, status = now + timedelta(seconds=exc.retry_after), RunStatus.WAITING
        elif attempts >= MAX_ATTEMPTS:
            return _fail(run, claim, f"Microsoft failed {attempts} times in a row: {exc.explanation}")
        else:
            at, status = now + backoff_delay(attempts, first=RETRY_FIRST, maximum=RETRY_MAX), RunStatus.RETRYING
        with transaction.atomic():
            if _locked(run, claim) is None:
                return "lost"
            SyncRun.objects.filter(pk=run.pk).update(
                status=status, error=exc.explanation, graph_requests=F("graph_requests") + 1
            )
            _next(claim, at)
            SyncRun.objects.filter(pk=run.pk).update(attempts=attempts)
        return str(status)
    if isinstance(exc, microsoft_errors.MicrosoftError):
        return _fail(run, claim, exc.explanation)
    raise exc
