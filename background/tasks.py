"""The sweep of background work (see background.kinds)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import shared_task
from celery.signals import worker_ready

from background.kinds import work_sweep


@shared_task(name="background.sweep", ignore_result=True)
def work_sweep_task(grace_seconds: float | None = None) -> int:
    grace = None if grace_seconds is None else timedelta(seconds=grace_seconds)
    return sum(work_sweep(grace=grace).values())


@worker_ready.connect
def _sweep_when_a_worker_starts(**_: Any) -> None:
    # A task queued with an ETA waits unacknowledged in the worker that took it; when that worker dies it
    # comes back only after the broker's visibility timeout (an hour). A worker that starts queues all due
    # work at once instead; where the old task still runs, one of the two loses the claim.
    work_sweep_task.delay(grace_seconds=0)
