"""Reads of the token store."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
