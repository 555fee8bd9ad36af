"""Background refresh of the token store (thin: fetch by id, call a service)."""

from __future__ import annotations

import logging

from celery import shared_task

from credentials.models import MicrosoftCredential
from credentials.services import credential_refresh_due

logger = logging.getLogger(__name__)


@shared_task(name="credentials.refresh")
def credential_refresh_task(credential_id: int, **_: object) -> str | None:
    """Refresh one credential whose refresh is due: queued by its retry, by "refresh now" or by the sweep.

    (Tasks queued by an older release carry `force` and `requested_at`: the claim has replaced them.)
    """
    try:
        credential = credential_refresh_due(credential_id=credential_id)
    except MicrosoftCredential.DoesNotExist:
        logger.info("Credential %s was deleted before its refresh ran", credential_id)
        return None
    return credential.state if credential is not None else None
