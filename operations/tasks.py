"""The heartbeat task beat sends to each queue: whichever worker takes it shows that the queue is served."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_ready

from operations.heartbeats import heartbeat_record, queue_heartbeat_name


@shared_task(name="operations.heartbeat", bind=True, ignore_result=True)
def heartbeat_task(self: Any, queue: str) -> None:
    heartbeat_record(queue_heartbeat_name(queue), host=str(self.request.hostname or ""))


@worker_ready.connect
def _heartbeat_when_a_worker_starts(sender: Any = None, **_: Any) -> None:
    """A starting worker counts for its queues at once, not only after beat's next heartbeat round."""
    task_consumer = getattr(sender, "task_consumer", None)
    queues = [queue.name for queue in getattr(task_consumer, "queues", None) or []]
    host = str(getattr(sender, "hostname", "") or "")
    for queue in queues:
        heartbeat_record(queue_heartbeat_name(queue), host=host)
