"""Tasks that only the tests load into a worker (`--include tests.config.worker_tasks`)."""

from __future__ import annotations

import redis
from celery import shared_task
from django.conf import settings


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@shared_task(name="tests.hold")
def hold(key: str, timeout: float = 120) -> bool:
    """Keep this worker's process busy until the test pushes to `key`: says it started, then blocks on Redis."""
    client = _redis()
    client.set(f"{key}:started", "1", ex=600)
    released = client.blpop([f"{key}:release"], timeout=timeout) is not None
    client.set(f"{key}:finished", "1", ex=600)
    return released
