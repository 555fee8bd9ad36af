from __future__ import annotations

from celery import shared_task


@shared_task(name="accounts.sign_in_failures_prune")
def sign_in_failures_prune() -> int:
    from accounts.services import sign_in_failures_prune as prune

    return prune()
