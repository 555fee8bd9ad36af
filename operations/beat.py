"""Beat's scheduler, which also records that beat runs (the `beat` heartbeat row)."""

from __future__ import annotations

import time
from typing import Any

from django_celery_beat.schedulers import DatabaseScheduler

from operations.heartbeats import BEAT, heartbeat_record

HEARTBEAT_EVERY = 30.0  # seconds between two beat heartbeats


class HeartbeatScheduler(DatabaseScheduler):
    """django-celery-beat's database scheduler; every tick writes the beat heartbeat (at most every 30 s)."""

    _heartbeat_at = 0.0

    def tick(self, *args: Any, **kwargs: Any) -> float:
        now = time.monotonic()
        if now - self._heartbeat_at >= HEARTBEAT_EVERY:
            heartbeat_record(BEAT, host="beat")
            self._heartbeat_at = now
        return float(super().tick(*args, **kwargs))
