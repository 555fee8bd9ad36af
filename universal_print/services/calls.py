"""Calling Universal Print for a connection: its tokens, and what a failure means for it.

App-only calls use the feature's app token from the token store (fetched again once when Graph refuses it);
a sign-in's delegated token is the Printer Administrator's. A failure becomes a `Trouble`: what the page says and
when to call Microsoft again. Nothing here waits: a Retry-After becomes the time of the next attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.utils import timezone

from background.claims import backoff_delay
from credentials.errors import CredentialError, CredentialUnavailable
from integrations.services.attention import features_consent_sync
from integrations.services.permissions import feature_permission_refused
from microsoft import errors as microsoft_errors
from universal_print.choices import PollStatus
from universal_print.models import Connection

if TYPE_CHECKING:
    from integrations.models import Feature

RETRY_FIRST = timedelta(seconds=30)
RETRY_MAX = timedelta(hours=1)


@dataclass(frozen=True)
class Trouble:
    """What went wrong for the connection: the status and words for the page, and when to call again."""

    status: PollStatus
    message: str
    retry_at: datetime | None = None  # None: not before a person acts (the poll looks again, without calling)
    throttled: bool = False


def trouble_of(
    exc: Exception, *, connection: Connection, feature: Feature, permission: str, attempts: int = 1
) -> Trouble:
    """Record what a failure says about the feature (a lost consent, a refused permission) and describe it."""
    now = timezone.now()
    if isinstance(exc, CredentialUnavailable):
        # The token store says the app's consent is gone: the feature "needs consent" until Reapply Consents.
        features_consent_sync(tenant=connection.tenant)
        return Trouble(PollStatus.NEEDS_CONSENT, exc.reason)
    if isinstance(exc, CredentialError):
        return Trouble(PollStatus.FAILED, "Roger's stored Microsoft connection does not match this directory.")
    if isinstance(exc, microsoft_errors.PermissionMissing):
        feature_permission_refused(feature=feature, permissions=[permission])
        return Trouble(PollStatus.NEEDS_CONSENT, exc.explanation)
    if isinstance(exc, microsoft_errors.ReconsentRequired):
        return Trouble(PollStatus.NEEDS_CONSENT, exc.explanation)
    if isinstance(exc, microsoft_errors.TransientError):
        if exc.retry_after is not None:
            retry_at = now + timedelta(seconds=exc.retry_after)
            Connection.objects.filter(pk=connection.pk).update(throttled_until=retry_at)
            connection.throttled_until = retry_at
            return Trouble(PollStatus.THROTTLED, exc.explanation, retry_at, throttled=True)
        return Trouble(
            PollStatus.RETRYING, exc.explanation, now + backoff_delay(attempts, first=RETRY_FIRST, maximum=RETRY_MAX)
        )
    if isinstance(exc, microsoft_errors.MicrosoftError):
        return Trouble(
            PollStatus.FAILED, exc.explanation, now + backoff_delay(attempts, first=RETRY_FIRST, maximum=RETRY_MAX)
        )
    raise exc
