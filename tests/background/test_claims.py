"""The claim idiom on PostgreSQL: one conditional UPDATE, a lease with an expiry, release by the holder only."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from background.claims import (
    Claim,
    backoff_delay,
    in_turns,
    work_claim,
    work_claim_due,
    work_release,
    work_renew,
)
from tests.background.conftest import Chore, chore
from tests.conftest import wait_until

pytestmark = pytest.mark.usefixtures("chores")

LEASE = timedelta(minutes=2)


def _other_connection_waits_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def test_of_two_connections_claiming_one_row_at_once_only_one_gets_it():
    row = chore("refresh")
    first_claimed, first_may_commit = threading.Event(), threading.Event()
    claims: dict[str, Claim | None] = {}

    def first() -> None:
        try:
            with transaction.atomic():  # holds the row lock of its UPDATE until it commits
                claims["first"] = work_claim(Chore.objects.all(), row.pk, lease=LEASE)
                first_claimed.set()
                first_may_commit.wait(timeout=10)
        finally:
            connection.close()

    def second() -> None:
        try:
            first_claimed.wait(timeout=10)
            claims["second"] = work_claim(Chore.objects.all(), row.pk, lease=LEASE)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    # The second UPDATE waits for the first one's row lock, then PostgreSQL re-checks its WHERE clause.
    wait_until(_other_connection_waits_for_a_lock, message="the second claim to wait for the first")
    first_may_commit.set()
    for thread in threads:
        thread.join(timeout=10)

    assert claims["first"] is not None and claims["second"] is None
    row.refresh_from_db()
    assert row.lease_token == claims["first"].token and row.lease_until == claims["first"].lease_until


def test_a_held_row_is_refused_until_its_lease_runs_out():
    row = chore("poll")
    held = work_claim(Chore.objects.all(), row.pk, lease=LEASE)
    assert held is not None

    assert work_claim(Chore.objects.all(), row.pk, lease=LEASE) is None
    Chore.objects.filter(pk=row.pk).update(lease_until=timezone.now() - timedelta(seconds=1))  # its worker died
    taken_over = work_claim(Chore.objects.all(), row.pk, lease=LEASE)

    assert taken_over is not None and taken_over.token != held.token


def test_work_that_is_not_due_or_has_nothing_to_do_is_refused():
    later = chore("later", due_in=timedelta(milliseconds=500))
    idle = chore("idle", due_in=None)

    assert work_claim(Chore.objects.all(), later.pk, lease=LEASE) is None
    assert work_claim(Chore.objects.all(), idle.pk, lease=LEASE) is None


def test_the_rows_filter_is_part_of_the_claim():
    row = chore("finished", done=True)

    assert work_claim(Chore.objects.filter(done=False), row.pk, lease=LEASE) is None


def test_release_writes_the_outcome_and_lets_go_only_for_the_holder():
    row = chore("send")
    stale = work_claim(Chore.objects.all(), row.pk, lease=LEASE)
    assert stale is not None
    Chore.objects.filter(pk=row.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    current = work_claim(Chore.objects.all(), row.pk, lease=LEASE)
    assert current is not None
    next_time = timezone.now() + timedelta(minutes=5)

    assert not work_release(Chore.objects.all(), stale, done=True)  # the dead worker came back too late
    assert work_release(Chore.objects.all(), current, next_attempt_at=next_time, attempts=0)

    row.refresh_from_db()
    assert not row.done and row.next_attempt_at == next_time
    assert row.lease_until is None and row.lease_token == ""
    assert work_claim(Chore.objects.all(), row.pk, lease=LEASE) is None, "not due again before next_attempt_at"


def test_long_work_renews_its_lease():
    row = chore("batch")
    claim = work_claim(Chore.objects.all(), row.pk, lease=timedelta(seconds=1))
    assert claim is not None

    assert work_renew(Chore.objects.all(), claim, lease=LEASE)

    row.refresh_from_db()
    assert row.lease_until > timezone.now() + timedelta(minutes=1)


def test_a_batch_claim_takes_the_due_unheld_rows_longest_due_first_up_to_its_limit():
    oldest = chore("oldest", due_in=timedelta(seconds=-30))
    older = chore("older", due_in=timedelta(seconds=-20))
    old = chore("old", due_in=timedelta(seconds=-10))
    held = chore("held", due_in=timedelta(seconds=-40))
    assert work_claim(Chore.objects.all(), held.pk, lease=LEASE) is not None
    chore("later", due_in=timedelta(minutes=5))
    chore("idle", due_in=None)
    chore("finished", done=True)

    first = work_claim_due(Chore.objects.filter(done=False), limit=2, lease=LEASE)
    second = work_claim_due(Chore.objects.filter(done=False), limit=2, lease=LEASE)

    assert [claim.pk for claim in first] == [oldest.pk, older.pk]
    assert [claim.pk for claim in second] == [old.pk], "held, not due, idle and filtered-out rows are left"
    assert work_claim_due(Chore.objects.filter(done=False), limit=2, lease=LEASE) == []
    assert work_claim(Chore.objects.all(), oldest.pk, lease=LEASE) is None, "a row claimed in a batch is held"
    row = Chore.objects.get(pk=older.pk)
    assert first[1].holds(row) and row.lease_until == first[1].lease_until
    assert work_release(Chore.objects.all(), first[0], done=True)
    assert Chore.objects.get(pk=older.pk).lease_token == first[1].token, "each claim releases only its own row"


def test_two_batch_claims_at_once_share_the_due_rows_and_never_take_one_twice():
    rows = [chore(f"poll {n}", due_in=timedelta(seconds=-n)) for n in range(6)]
    first_claimed, first_may_commit = threading.Event(), threading.Event()
    claims: dict[str, list[Claim]] = {}

    def first() -> None:
        try:
            with transaction.atomic():  # holds the row locks of its UPDATE until it commits
                claims["first"] = work_claim_due(Chore.objects.all(), limit=3, lease=LEASE)
                first_claimed.set()
                first_may_commit.wait(timeout=10)
        finally:
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    assert first_claimed.wait(timeout=10)
    try:
        claims["second"] = work_claim_due(Chore.objects.all(), limit=6, lease=LEASE)  # does not wait for the first
    finally:
        first_may_commit.set()
        thread.join(timeout=10)

    taken = [claim.pk for claim in claims["first"] + claims["second"]]
    assert len(claims["first"]) == 3 and sorted(taken) == sorted(row.pk for row in rows)


def test_the_backoff_doubles_up_to_its_maximum():
    delays = [backoff_delay(n, first=timedelta(seconds=30), maximum=timedelta(hours=1)) for n in range(1, 10)]

    assert delays[:4] == [timedelta(seconds=s) for s in (30, 60, 120, 240)]
    assert delays[-1] == timedelta(hours=1)


def test_work_is_taken_in_turns_so_a_backlog_holds_another_owner_back_by_one_batch_at_most():
    backlog = [chore("tenant-a", due_in=timedelta(minutes=-10) + timedelta(seconds=i)) for i in range(6)]
    held = chore("tenant-c", due_in=timedelta(minutes=-20), lease_until=timezone.now() + LEASE)
    late = chore("tenant-b", due_in=timedelta(seconds=-1))  # the newest of all
    chore("tenant-b", due_in=timedelta(minutes=5))  # not due yet

    batch = in_turns(Chore.objects.all(), by="name", limit=3)

    assert batch == [backlog[0].pk, late.pk, backlog[1].pk]  # the oldest of each owner first, then the second
    assert held.pk not in in_turns(Chore.objects.all(), by="name", limit=100)
    assert in_turns(Chore.objects.all(), by="name", limit=100, due_by=timezone.now() - timedelta(minutes=5)) == [
        row.pk for row in backlog
    ]
