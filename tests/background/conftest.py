"""A kind of background work of its own for these tests: `Chore` rows in a table made for the test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, models
from django.utils import timezone

from background.kinds import WorkKind, work_kind_register, work_kind_unregister
from background.models import Claimable
from config.celery import app


class Chore(Claimable):
    name = models.CharField(max_length=50)
    done = models.BooleanField(default=False)

    class Meta:
        app_label = "background_tests"  # not an installed app: no migration, its table lives only in a test
        managed = False


class RecordingTask:
    """Stands in for a Celery task: remembers what was queued."""

    name = "tests.chore"

    def __init__(self) -> None:
        self.queued: list[tuple[Any, ...]] = []

    def apply_async(self, args: tuple[Any, ...], **options: Any) -> None:
        self.queued.append(args)


@pytest.fixture
def chores(transactional_db: Any) -> Iterator[type[Chore]]:
    with connection.schema_editor() as editor:
        editor.create_model(Chore)
    yield Chore
    with connection.schema_editor() as editor:
        editor.delete_model(Chore)


@pytest.fixture
def chore_task(chores: type[Chore]) -> Iterator[RecordingTask]:
    """The chores registered as a kind of work, with a task that records what the sweep queues."""
    task = RecordingTask()
    work_kind_register(
        WorkKind(name="tests.chore", rows=lambda: Chore.objects.filter(done=False), task=task, grace=timedelta(0))  # type: ignore[arg-type]
    )
    yield task
    work_kind_unregister("tests.chore")


def chore(name: str, *, due_in: timedelta | None = timedelta(0), **fields: Any) -> Chore:
    next_attempt_at = None if due_in is None else timezone.now() + due_in
    return Chore.objects.create(name=name, next_attempt_at=next_attempt_at, **fields)


@contextmanager
def broker_unavailable() -> Iterator[None]:
    """The broker refuses connections (a closed port) while inside; the real one is back afterwards."""
    real = app.conf.broker_url

    def point_at(url: str) -> None:
        app.conf.broker_url = url
        app._pool = None  # the connection and producer pools were made for the other URL
        app.amqp._producer_pool = None

    point_at("redis://127.0.0.1:1/0")
    try:
        yield
    finally:
        point_at(real)
