"""Reads of the token store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from credentials.choices import CredentialState
from credentials.models import MicrosoftCredential
from credentials.registry import owner_type_get
from health import Health

if TYPE_CHECKING:
    from accounts.models import Tenant, User


def credential_list(*, owner_type: str, tenant: Tenant | None) -> QuerySet[MicrosoftCredential]:
    """The stored connections of one owner type, within one Roger tenant (`tenant=None`: of every tenant, for the
    owner's own sweeps by owner ids). For the owner's app to narrow by owner, user, state or directory, or to use as
    a subquery (OuterRef, Exists), so that its question stays one SQL statement."""
    rows = MicrosoftCredential.objects.filter(owner_type=owner_type)
    return rows.filter(tenant=tenant) if tenant is not None else rows


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


def credential_health(credential: MicrosoftCredential) -> Health:
    """How the credential is, in the portal's one health vocabulary (the owner's page is where it is fixed)."""
    reason = credential.state_reason
    if credential.state == CredentialState.ACTIVE:
        return Health.ok("Connected")
    if credential.state == CredentialState.REFRESHING:
        return Health.working("Refreshing", "A refresh was asked for; it runs in the background.")
    if credential.state == CredentialState.RETRYING:
        return Health.retrying(
            cause=reason or "Microsoft could not be reached.",
            since=credential.retrying_since,
            next_try=credential.next_attempt_at,
        )
    fix_url = owner_type_get(credential.owner_type).fix_url_for(credential)
    if credential.state == CredentialState.NEEDS_CONSENT:
        return Health.needs_action("Needs consent", reason=reason, fix_url=fix_url, fix_label="Grant consent")
    return Health.needs_action("Needs reconnect", reason=reason, fix_url=fix_url, fix_label="Reconnect")
