"""Reads of the OneDrive feature, always scoped to one user of one Roger tenant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from credentials.choices import CredentialState
from credentials.selectors import credential_health, credential_list
from health import Health
from integrations.choices import FeatureType
from integrations.selectors import FEATURE_OWNER_TYPE, features_of_type
from onedrive.choices import PrintStatus, ScanStatus
from onedrive.models import DEFAULT_SCAN_FOLDER, OneDrivePreference, OneDrivePrint, ScanDelivery
from ui.statements import PageRead

if TYPE_CHECKING:
    from accounts.models import Tenant, User
    from credentials.models import MicrosoftCredential
    from integrations.models import Feature


@dataclass(frozen=True)
class Connection:
    """The user's OneDrive: the enabled feature it goes through, and the user's stored connection (or None)."""

    feature: Feature
    credential: MicrosoftCredential | None

    @property
    def connected(self) -> bool:
        return self.credential is not None

    @property
    def needs_attention(self) -> bool:
        return self.credential is not None and self.credential.state in CredentialState.terminal()

    @property
    def usable(self) -> bool:
        return self.connected and not self.needs_attention

    @property
    def health(self) -> Health:
        """The connection in the portal's one health vocabulary; the account and since when it is connected
        are the credential's (`account_username`, `connected_at`)."""
        if self.credential is None:
            return Health.off("Not connected", "Sign in with Microsoft to print from your OneDrive and scan to it.")
        return credential_health(self.credential)


def tenant_of(user: User) -> Tenant:
    """The Roger tenant of a tenant member (the views only let those in)."""
    if user.tenant is None:
        raise PermissionError("Only a Roger tenant's users have a OneDrive here.")
    return user.tenant


def _enabled_features(*, tenant: Tenant) -> QuerySet[Feature]:
    return features_of_type(tenant=tenant, feature_type=FeatureType.ONEDRIVE).filter(enabled=True)


def _credentials(tenant: Tenant) -> QuerySet[MicrosoftCredential]:
    return credential_list(owner_type=FEATURE_OWNER_TYPE, tenant=tenant)


def user_credential(*, user: User, feature: Feature) -> MicrosoftCredential | None:
    """The user's own connection through `feature`: bound to this user, of this Roger tenant."""
    if user.tenant is None:
        return None
    return _credentials(user.tenant).filter(owner_id=feature.pk, user=user).first()


# The Jobs page asks on every view, and in most tenants OneDrive is off: built once (ui.statements), a query of the
# features with their integration and app (built every call, ~1 ms of CPU) only when it is on.
_ONEDRIVE_ENABLED = PageRead(_enabled_features)


def onedrive_connection(*, user: User) -> Connection | None:
    """The OneDrive the user works with: the enabled feature they connected through, else the first enabled one;
    None when OneDrive is not enabled in the Roger tenant."""
    if user.tenant is None or not _ONEDRIVE_ENABLED.exists(tenant=user.tenant):
        return None
    features = list(_enabled_features(tenant=user.tenant).order_by("pk"))
    if not features:
        return None
    credentials = {
        c.owner_id: c for c in _credentials(user.tenant).filter(owner_id__in=[f.pk for f in features], user=user)
    }
    feature = next((f for f in features if f.pk in credentials), features[0])
    return Connection(feature=feature, credential=credentials.get(feature.pk))


def _waiting_connections(*, tenant: Tenant, user: User) -> QuerySet[MicrosoftCredential]:
    return _credentials(tenant).filter(
        owner_id__in=_enabled_features(tenant=tenant).values("pk"), user=user, state__in=CredentialState.terminal()
    )


# Every page asks (the banner in base.html): built once (ui.statements), ~1 ms of CPU a view, a fifth of a short
# page's.
_WAITING_CONNECTIONS = PageRead(_waiting_connections)


def reconnect_needed(*, user: User) -> bool:
    """Whether the user's OneDrive connection waits for them (revoked, expired sign-in, permission withdrawn)."""
    if user.tenant is None:
        return False
    return _WAITING_CONNECTIONS.exists(tenant=user.tenant, user=user)


def preference_of(*, user: User) -> OneDrivePreference:
    """The user's preferences (the defaults, unsaved, until they save some)."""
    found = OneDrivePreference.objects.filter(user=user, tenant=user.tenant).first()
    return found or OneDrivePreference(tenant=tenant_of(user), user=user, scan_folder=DEFAULT_SCAN_FOLDER)


def user_prints(*, user: User) -> QuerySet[OneDrivePrint]:
    return OneDrivePrint.objects.filter(tenant=user.tenant, user=user).select_related("job")


def user_scans(*, user: User) -> QuerySet[ScanDelivery]:
    return ScanDelivery.objects.filter(tenant=user.tenant, user=user)


def user_print_get(*, user: User, pk: int) -> OneDrivePrint:
    return get_object_or_404(user_prints(user=user), pk=pk)


def user_scan_get(*, user: User, pk: int) -> ScanDelivery:
    return get_object_or_404(user_scans(user=user), pk=pk)


def anything_working(*, user: User) -> bool:
    """Whether the background still works on something of the user's (the Jobs page keeps refreshing)."""
    return (
        user_prints(user=user).filter(status__in=PrintStatus.working()).exists()
        or user_scans(user=user).filter(status__in=ScanStatus.working()).exists()
    )
