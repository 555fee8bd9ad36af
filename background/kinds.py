"""The kinds of background work, and the one sweep that queues again whatever is due and not held.

A kind of work is rows of one model (with the fields of `background.models.Claimable`) and one Celery task
that takes a row's id, claims it (`background.claims.work_claim`), does the work and releases it with the
time the work is due next. The work queues its own next step when it can (`work_queue`), after its
transaction commits. The sweep (the beat task `background.sweep`, every minute, and once when a worker
starts) is the safety net that makes lost work impossible to forget: it queues every row that is due and
that nobody holds, which covers

- a task lost with a worker, or never queued because the broker was away when its transaction committed;
- work a dead worker left leased (the lease runs out);
- work that nothing else schedules, such as exercising an idle refresh token or polling a mailbox.

A duplicate task is harmless: it loses the claim. To add a kind, register it in the owning app's
`AppConfig.ready()`:

    work_kind_register(
        WorkKind(
            name="sync.run",
            rows=lambda: SyncRun.objects.filter(status__in=(RunStatus.QUEUED, RunStatus.RUNNING)),
            task=sync_run_task,
            grace=timedelta(minutes=1),
        )
    )
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import Task
from django.core.exceptions import ObjectDoesNotExist
from django.db import DatabaseError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from kombu.exceptions import OperationalError

from background.claims import due, in_turns, unleased

__all__ = [
    "SWEEP_BATCH",
    "SWEEP_TASK_EXPIRES",
    "WorkKind",
    "work_kind_register",
    "work_kind_unregister",
    "work_kinds",
    "work_queue",
    "work_status",
    "work_sweep",
]

logger = logging.getLogger(__name__)

# The beat runs the sweep every minute: what it queues expires before the next sweep queues it again.
SWEEP_TASK_EXPIRES = 50
# The most rows of one kind a sweep queues. Not a small batch: a backlog (10,000 tokens due after an outage) must
# reach the workers at their pace, not at 500 a minute; what they do not take before the tasks expire is queued
# again by the next sweep.
SWEEP_BATCH = 20_000


@dataclass(frozen=True)
class WorkKind:
    """One kind of background work the sweep looks after.

    `rows` returns the rows that may hold work of this kind (filtered on the model's own columns, e.g. the
    statuses still being worked on); `task` is a Celery task called with a row's id; `grace` is how long a
    due row may wait for the task its own work queued before the sweep queues another (zero for work that
    only the sweep schedules); `tidy`, if given, runs at every sweep (say, to forget finished rows);
    `turns_by`, if given, is the field (say, "tenant_id") whose values the sweep serves in turns
    (`background.claims.in_turns`), so that one tenant's backlog does not fill the queue ahead of another's.
    """

    name: str
    rows: Callable[[], QuerySet[Any]]
    task: Task
    grace: timedelta = timedelta(0)
    tidy: Callable[[], object] | None = None
    turns_by: str | None = None


_kinds: dict[str, WorkKind] = {}


def work_kind_register(kind: WorkKind) -> None:
    """Register (or replace, e.g. on autoreload) the kind of that name."""
    _kinds[kind.name] = kind


def work_kind_unregister(name: str) -> None:
    _kinds.pop(name, None)


def work_kinds() -> list[WorkKind]:
    return sorted(_kinds.values(), key=lambda kind: kind.name)


def work_queue(
    task: Task,
    *args: Any,
    eta: datetime | None = None,
    countdown: float | None = None,
    expires: float | None = None,
) -> None:
    """Queue `task(*args)` once the surrounding transaction commits (at once outside of one).

    When the broker is away the row stays due, so the sweep queues the work once the broker is back: the
    caller's transaction is committed by then and must not fail for it.
    """

    def publish() -> None:
        try:
            task.apply_async(args, eta=eta, countdown=countdown, expires=expires)
        except OperationalError as exc:
            logger.warning("Could not queue %s%r (%s); the sweep will queue it", task.name, args, exc)

    transaction.on_commit(publish)


def work_status(work: Callable[[], Any]) -> str | None:
    """What a kind's task returns: the status `work` (its one step on a row) left the row in; None when there was
    nothing to do or the row was deleted while it was worked on."""
    try:
        row = work()
    except ObjectDoesNotExist:
        return None
    return str(row.status) if row is not None else None


def work_sweep(*, grace: timedelta | None = None) -> dict[str, int]:
    """Queue every due row of every kind that no worker holds. `grace` overrides the kinds' own (a starting
    worker uses zero). Returns how many were queued, per kind."""
    now = timezone.now()
    queued: dict[str, int] = {}
    for kind in work_kinds():
        try:
            if kind.tidy is not None:
                kind.tidy()
            ids = _waiting(kind, now, kind.grace if grace is None else grace)
        except DatabaseError:  # one kind's failure must not starve the others
            logger.exception("The sweep could not read the %s work", kind.name)
            continue
        for pk in ids:
            work_queue(kind.task, pk, expires=SWEEP_TASK_EXPIRES)
        queued[kind.name] = len(ids)
        if ids:
            logger.info("Sweep: queued %s %s", len(ids), kind.name)
    return queued


def _waiting(kind: WorkKind, now: datetime, grace: timedelta) -> list[int]:
    if kind.turns_by is not None:
        return in_turns(kind.rows(), by=kind.turns_by, limit=SWEEP_BATCH, due_by=now - grace)
    rows = kind.rows().filter(due(now - grace), unleased(now)).order_by("next_attempt_at")
    return list(rows.values_list("pk", flat=True)[:SWEEP_BATCH])
