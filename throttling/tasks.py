from __future__ import annotations

from celery import shared_task

from throttling.services import throttle_windows_prune as prune


@shared_task(name="throttling.windows_prune")
def throttle_windows_prune() -> int:
    return prune()
