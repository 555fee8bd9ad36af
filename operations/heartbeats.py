"""Writing heartbeats: beat (operations.beat), and a worker of each queue (the `operations.heartbeat` task that
beat sends to every queue each minute, and each worker once for its queues when it starts)."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import DatabaseError
from django.utils import timezone

from operations.models import Heartbeat

__all__ = ["BEAT", "heartbeat_record", "queue_heartbeat_name"]

logger = logging.getLogger(__name__)
BEAT = "beat"


def queue_heartbeat_name(queue: str) -> str:
    return f"queue:{queue}"


def heartbeat_record(name: str, *, host: str = "", at: datetime | None = None) -> None:
    """Record that `name` is alive (never fails its caller: a missing heartbeat is what /healthz reports)."""
    try:
        Heartbeat.objects.update_or_create(name=name, defaults={"seen_at": at or timezone.now(), "host": host[:255]})
    except DatabaseError:
        logger.warning("Could not record the %s heartbeat", name, exc_info=True)
