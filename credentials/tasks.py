"""Background refresh of the token store (thin: fetch by id, call a service)."""

from __future__ import annotations

import logging

from celery import shared_task

from credentials.services import credential_refresh_round

logger = logging.getLogger(__name__)


@shared_task(name="credentials.refresh")
def credential_refresh_task(credential_id: int, **_: object) -> int:
    """A round of due refreshes, this credential's among them if it still is due: queued by its retry, by
    "refresh now" or by the sweep. Returns how many were refreshed (or left retrying or waiting for a person).

    (Tasks queued by an older release carry `force` and `requested_at`: the claim has replaced them.)
    """
    return len(credential_refresh_round(credential_id=credential_id))
