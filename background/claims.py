"""Claiming background work: one conditional UPDATE decides which worker does it.

The idiom is healthchecks.io's `sendalerts` command (hc/api/management/commands/sendalerts.py): a worker
claims a row with an UPDATE whose WHERE clause says "still unclaimed", and owns the row only if the update
changed it; another worker's identical UPDATE changes nothing, and that worker moves on. Here the claim is
a lease with an expiry, so that a worker that dies mid-work does not keep the row forever:

    UPDATE ... SET lease_until = now + lease, lease_token = <new token>
     WHERE id = ... AND (lease_until IS NULL OR lease_until < now) AND next_attempt_at <= now

PostgreSQL re-checks the WHERE clause of an UPDATE that waited for another transaction's row lock, so two
claims racing for one row never both win. The work then runs with no lock held (a call to Microsoft or to a
mail server takes seconds), and its outcome is written by `work_release`, or inside a transaction that locks
the row after checking `claim.holds(row)`: only while the claim still holds, clearing the lease and saying
when the work is due next.

Work made of many short calls (device code polls: one small request each, due every few seconds) is claimed in
batches instead (`work_claim_due`): up to N due, unheld rows locked and leased in one transaction, so that one task
takes them all and their network waits overlap, rather than paying a task, a claim and a read per row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import F, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from background.models import Claimable

__all__ = [
    "Claim",
    "backoff_delay",
    "due",
    "in_turns",
    "retry_delay",
    "unleased",
    "work_claim",
    "work_claim_due",
    "work_release",
    "work_renew",
]

C = TypeVar("C", bound=Claimable)


@dataclass(frozen=True)
class Claim:
    """A worker's hold on one row until `lease_until`."""

    pk: int
    token: str
    claimed_at: datetime
    lease_until: datetime

    def holds(self, row: Claimable) -> bool:
        """Whether `row` (read under a lock) is still held by this claim."""
        return row.lease_token == self.token

    def release_on(self, row: Claimable) -> list[str]:
        """Clear the lease on a row read under a lock, before saving it; returns the fields to save."""
        row.lease_until = None
        row.lease_token = ""
        return ["lease_until", "lease_token"]


def due(now: datetime) -> Q:
    # No tolerance: work is never started before its time (Microsoft answers a device code poll that comes
    # too early with slow_down). A task that arrives early because two machines' clocks disagree loses the
    # claim, and the sweep queues the work again after its kind's grace.
    return Q(next_attempt_at__lte=now)


def unleased(now: datetime) -> Q:
    """Nobody holds the row: never claimed, released, or its holder's lease ran out (the worker died)."""
    return Q(lease_until__isnull=True) | Q(lease_until__lt=now)


def in_turns(rows: QuerySet[C], *, by: str, limit: int, due_by: datetime | None = None) -> list[int]:
    """The ids of up to `limit` rows that are due and unheld, taken in turns per `by` (say, the tenant): the
    oldest row of each tenant first, then the second of each, and so on. One tenant's backlog of thousands
    thus holds another tenant's first row back by at most one batch, not by the whole backlog. `due_by`:
    only rows due by then (the sweep's grace); now by default."""
    now = timezone.now()
    turn = Window(RowNumber(), partition_by=[F(by)], order_by=[F("next_attempt_at").asc(), F("pk").asc()])
    waiting = rows.filter(due(due_by or now), unleased(now)).annotate(turn=turn)
    return list(waiting.order_by("turn", "next_attempt_at", "pk").values_list("pk", flat=True)[:limit])


def work_claim(rows: QuerySet[C], pk: int, *, lease: timedelta, **fields: Any) -> Claim | None:
    """Claim the row `pk` of `rows` if it is due and nobody holds it; None when another worker has it or it is
    not due (a duplicate task, or the work was done meanwhile). `fields` are set by the same UPDATE (say, a
    status the page shows while the work runs).

    Filter `rows` on the model's own columns only (e.g. a status), so that the claim stays one UPDATE.
    """
    now = timezone.now()
    token = uuid.uuid4().hex
    claimed = rows.filter(due(now), unleased(now), pk=pk).update(lease_until=now + lease, lease_token=token, **fields)
    return Claim(pk=pk, token=token, claimed_at=now, lease_until=now + lease) if claimed else None


def work_claim_due(rows: QuerySet[C], *, limit: int, lease: timedelta, **fields: Any) -> list[Claim]:
    """Claim up to `limit` rows of `rows` that are due and that nobody holds, the longest due first, in one
    transaction; returns a claim per row taken (none: nothing is due, or other workers took it all).

    Rows another worker is claiming at the same moment are skipped (FOR UPDATE SKIP LOCKED), not waited for,
    so two workers claiming at once share the due rows instead of one of them getting nothing. The claims share
    one token (each releases only its own row, by key).
    """
    now = timezone.now()
    token = uuid.uuid4().hex
    waiting = rows.filter(due(now), unleased(now)).order_by("next_attempt_at", "pk")
    with transaction.atomic():
        # Two statements, not UPDATE ... WHERE pk IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED): PostgreSQL may
        # run such a subquery again for every row it checks and so update more than n rows.
        pks = list(waiting.select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit])
        if pks:  # locked by this transaction: nobody else can claim or change them before it commits
            rows.filter(pk__in=pks).update(lease_until=now + lease, lease_token=token, **fields)
    return [Claim(pk=pk, token=token, claimed_at=now, lease_until=now + lease) for pk in pks]


def work_renew(rows: QuerySet[C], claim: Claim, *, lease: timedelta, **fields: Any) -> bool:
    """Keep holding the row for another `lease` (long work renews between its steps), writing `fields` with it
    (say, where the work stands); False, writing nothing, when the claim no longer holds."""
    return bool(rows.filter(pk=claim.pk, lease_token=claim.token).update(lease_until=timezone.now() + lease, **fields))


def work_release(rows: QuerySet[C], claim: Claim, **fields: Any) -> bool:
    """Write the outcome (`fields`, usually with the new `next_attempt_at`) and let go of the row.

    Returns False, writing nothing, when the claim no longer holds (its lease ran out and another worker
    claimed the row, or the row is gone).
    """
    return bool(rows.filter(pk=claim.pk, lease_token=claim.token).update(lease_until=None, lease_token="", **fields))


def backoff_delay(attempts: int, *, first: timedelta, maximum: timedelta) -> timedelta:
    """`first`, doubled for every further failed attempt in a row, at most `maximum`."""
    return min(first * (2 ** min(max(attempts - 1, 0), 16)), maximum)


def retry_delay(attempts: int, *, retry_after: float | None, first: timedelta, maximum: timedelta) -> timedelta:
    """When to try again after a passing failure: when the other side said (its Retry-After, honoured exactly, a
    second at the least), else `backoff_delay`."""
    if retry_after is not None:
        return timedelta(seconds=max(1.0, retry_after))
    return backoff_delay(attempts, first=first, maximum=maximum)
