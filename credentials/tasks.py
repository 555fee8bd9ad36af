"""Background refresh of the token store (thin: fetch by id, call a service)."""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="credentials.refresh")
def credential_refresh_task(credential_id: int, force: bool = True, requested_at: str | None = None) -> str | None:
    from credentials.models import MicrosoftCredential
    from credentials.services import credential_refresh

    try:
        credential = credential_refresh(
            credential_id=credential_id,
            force=force,
            requested_at=datetime.fromisoformat(requested_at) if requested_at else None,
        )
    except MicrosoftCredential.DoesNotExist:
        logger.info("Credential %s was deleted before its refresh ran", credential_id)
        return None
    return credential.state


@shared_task(name="credentials.refresh_due")
def credentials_refresh_due() -> int:
    from credentials.services import credentials_refresh_due as queue_due

    return queue_due()
