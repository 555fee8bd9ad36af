"""The one sweep: it queues every due row of every kind that no worker holds, and survives the broker's absence."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from background.claims import work_claim
from background.kinds import work_queue, work_sweep
from background.tasks import work_sweep_task
from tests.background.conftest import Chore, broker_unavailable, chore

pytestmark = pytest.mark.usefixtures("chores")


def test_the_sweep_queues_due_work_nobody_holds(chore_task):
    due = chore("due", due_in=-timedelta(minutes=5))
    left_by_a_dead_worker = chore("dead", due_in=-timedelta(minutes=5))
    Chore.objects.filter(pk=left_by_a_dead_worker.pk).update(
        lease_token="x", lease_until=timezone.now() - timedelta(seconds=1)
    )
    held = chore("held", due_in=-timedelta(minutes=5))
    assert work_claim(Chore.objects.all(), held.pk, lease=timedelta(minutes=2)) is not None
    chore("later", due_in=timedelta(minutes=5))
    chore("nothing to do", due_in=None)
    chore("finished", due_in=-timedelta(minutes=5), done=True)

    assert work_sweep()["tests.chore"] == 2

    assert sorted(chore_task.queued) == sorted([(due.pk,), (left_by_a_dead_worker.pk,)])


def test_work_waiting_for_its_own_task_is_left_alone_for_the_grace_period(chore_task, monkeypatch):
    from background import kinds

    chore("just queued", due_in=-timedelta(seconds=10))
    kind = kinds._kinds["tests.chore"]
    monkeypatch.setitem(
        kinds._kinds, "tests.chore", kinds.WorkKind(kind.name, kind.rows, kind.task, timedelta(minutes=1))
    )

    assert work_sweep()["tests.chore"] == 0
    assert work_sweep(grace=timedelta(0))["tests.chore"] == 1  # a starting worker queues everything due


def test_work_queued_while_the_broker_is_away_is_queued_by_the_sweep_later(chore_task, caplog):
    with broker_unavailable(), transaction.atomic():  # the commit does not fail for the broker's absence
        row = chore("committed while the broker is away")
        work_queue(work_sweep_task, row.pk)  # any real task: publishing it is what fails

    assert "Could not queue background.sweep" in caplog.text and "the sweep will queue it" in caplog.text
    assert Chore.objects.filter(pk=row.pk).exists()
    assert work_sweep()["tests.chore"] == 1
    assert chore_task.queued == [(row.pk,)]


def test_a_backlog_larger_than_a_few_hundred_rows_is_queued_by_one_sweep(chore_task):
    """10,000 tokens due after an outage reach the workers at their pace, not 500 a minute."""
    now = timezone.now()
    Chore.objects.bulk_create(
        Chore(name=f"backlog {n}", next_attempt_at=now - timedelta(minutes=5)) for n in range(1200)
    )

    assert work_sweep()["tests.chore"] == 1200
    assert len(set(chore_task.queued)) == 1200
