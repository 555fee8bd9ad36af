"""Reads of the token store."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import Q

from credentials.choices import CredentialKind, CredentialState
from credentials.models import MicrosoftCredential

if TYPE_CHECKING:
    from accounts.models import Tenant, User


def credential_for(
    *, tenant: Tenant, owner_type: str, owner_id: int, user: User | None = None
) -> MicrosoftCredential | None:
    """The owner's credential in this Roger tenant (its state, reason, account, expiry), or None."""
    return MicrosoftCredential.objects.filter(
        tenant=tenant, owner_type=owner_type, owner_id=owner_id, user=user
    ).first()


def credential_of_owner(*, owner_type: str, owner_id: int, user: User | None) -> MicrosoftCredential | None:
    """The owner's credential whatever its tenant: only for the store's own ownership checks."""
    return (
        MicrosoftCredential.objects.select_related("tenant")
        .filter(owner_type=owner_type, owner_id=owner_id, user=user)
        .first()
    )


def credentials_due_for_refresh(
    *, idle_before: datetime, retry_before: datetime, stuck_before: datetime
) -> list[tuple[int, bool]]:
    """(id, force) of every credential, across tenants, that the background refresh must take up.

    Idle delegated refresh tokens are exercised (force); due retries and refreshes whose worker died
    are taken up again.
    """
    idle = Q(state=CredentialState.ACTIVE, refresh_token_used_at__lt=idle_before) & ~Q(kind=CredentialKind.APP_ONLY)
    retry = Q(state=CredentialState.RETRYING) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=retry_before))
    stuck = Q(state=CredentialState.REFRESHING, updated_at__lt=stuck_before)
    rows = MicrosoftCredential.objects.filter(idle | retry | stuck).values_list("pk", "state").order_by("pk")
    return [(pk, state == CredentialState.ACTIVE) for pk, state in rows]
