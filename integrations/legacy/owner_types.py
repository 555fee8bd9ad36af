"""The token-store owners of the settings from before integrations, in one table.

Until a tenant is migrated, its legacy settings rows own their tokens in the token store (`credentials`): the
app-only token of User Synchronization and of Universal Print, and each user's OneDrive and SharePoint sign-in.
Migrating hands each row over to the feature named here; leaving the legacy app deletes what is left.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from django.urls import reverse

from credentials.registry import OwnerType, owner_type_register
from integrations.choices import FeatureType
from integrations.operator_apps import operator_app_credentials
from microsoft.config import AppCredentials

if TYPE_CHECKING:
    from credentials.models import MicrosoftCredential


@dataclass(frozen=True)
class LegacyOwner:
    name: str  # the token store's owner_type
    operator_app: str  # its app (integrations.operator_apps)
    feature_type: FeatureType  # the feature its tokens go to when the tenant is migrated
    area: str  # what the admin knew it as
    label: str  # how the token store names it (admin emails, Django admin)


LEGACY_OWNERS = (
    LegacyOwner(
        "legacy_user_sync",
        "LEGACY_USER_SYNC",
        FeatureType.USER_SYNC,
        "User Synchronization",
        "Entra ID User Synchronization (before integrations)",
    ),
    LegacyOwner(
        "legacy_universal_print",
        "LEGACY",
        FeatureType.UNIVERSAL_PRINT,
        "Universal Print",
        "Microsoft Universal Print (before integrations)",
    ),
    LegacyOwner(
        "legacy_cloud_storage",
        "LEGACY",
        FeatureType.ONEDRIVE,
        "OneDrive and SharePoint",
        "OneDrive and SharePoint (before integrations)",
    ),
)
LEGACY_OWNER_TYPES = {owner.name: owner for owner in LEGACY_OWNERS}


def _app_for(owner: LegacyOwner, credential: MicrosoftCredential) -> AppCredentials:
    return operator_app_credentials(owner.operator_app)


def _label_for(owner: LegacyOwner, credential: MicrosoftCredential) -> str:
    return owner.label


def _fix_url_for(credential: MicrosoftCredential) -> str:
    return reverse("integrations:list")


def legacy_owner_types_register() -> None:
    for owner in LEGACY_OWNERS:
        owner_type_register(
            OwnerType(
                name=owner.name,
                app_for=partial(_app_for, owner),
                label_for=partial(_label_for, owner),
                fix_url_for=_fix_url_for,
            )
        )
