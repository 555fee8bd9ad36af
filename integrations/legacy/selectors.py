"""Reads about the setup from before integrations: the legacy app, who had it, and the tokens it still holds."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import Tenant, User
from credentials.models import MicrosoftCredential
from integrations.legacy.models import (
    LegacyCloudServicesSettings,
    LegacySwitch,
    LegacyUniversalPrintSettings,
    LegacyUserSyncSettings,
)
from integrations.legacy.owner_types import LEGACY_OWNER_TYPES
from integrations.models import Feature, Integration
from integrations.operator_apps import operator_app_credentials, operator_app_name
from integrations.selectors import FEATURE_OWNER_TYPE

# What the two legacy apps cover, shown on the legacy integration (the settings before integrations kept them).
LEGACY_SCOPES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("User Synchronization", "LEGACY_USER_SYNC", ("User.Read.All", "Group.Read.All")),
    ("OneDrive", "LEGACY", ("Files.ReadWrite.All",)),
    ("SharePoint", "LEGACY", ("Sites.ReadWrite.All",)),
    ("Universal Print", "LEGACY", ("Printer.Read.All", "PrintJob.Manage.All", "PrintTaskDefinition.ReadWrite.All")),
    ("Email", "LEGACY", ("Mail.ReadWrite", "Mail.Send")),
    ("Sign-in", "LEGACY", ("openid", "profile", "email", "offline_access", "User.Read")),
)


def legacy_scopes() -> list[tuple[str, str, tuple[str, ...]]]:
    """Each area the legacy apps cover, with the app's display name and its permissions."""
    return [(area, operator_app_name(app), scopes) for area, app, scopes in LEGACY_SCOPES]


def legacy_client_id() -> str:
    return operator_app_credentials("LEGACY").client_id.lower()


def is_legacy_app(application_id: str) -> bool:
    return bool(legacy_client_id()) and application_id.strip().lower() == legacy_client_id()


def has_legacy_setup(*, tenant: Tenant) -> bool:
    """Whether this Roger tenant had a Microsoft connection before integrations existed."""
    return (
        Integration.objects.filter(tenant=tenant, is_legacy=True).exists()
        or LegacyUserSyncSettings.objects.filter(tenant=tenant).exists()
        or LegacyUniversalPrintSettings.objects.filter(tenant=tenant).exists()
        or LegacyCloudServicesSettings.objects.filter(tenant=tenant).exists()
    )


def legacy_application_id_for(*, tenant: Tenant) -> str | None:
    """The legacy app's Application ID when this Roger tenant had a connection before integrations existed."""
    client_id = legacy_client_id()
    return client_id if client_id and has_legacy_setup(tenant=tenant) else None


def legacy_bound_credentials(*, tenant: Tenant, feature_ids: list[int]) -> QuerySet[MicrosoftCredential]:
    """The stored tokens that leaving the legacy app deletes: the features' own, and those the settings from
    before integrations still hold in this Roger tenant."""
    return (
        MicrosoftCredential.objects.filter(tenant=tenant)
        .filter(Q(owner_type=FEATURE_OWNER_TYPE, owner_id__in=feature_ids) | Q(owner_type__in=list(LEGACY_OWNER_TYPES)))
        .select_related("user")
        .order_by("pk")
    )


def users_of_credentials(credentials: QuerySet[MicrosoftCredential]) -> list[User]:
    user_ids = credentials.filter(user__isnull=False).values_list("user_id", flat=True)
    return list(User.objects.filter(pk__in=list(user_ids)).order_by("full_name", "email"))


def feature_label_of_credential(credential: Any, features: dict[int, Feature]) -> str:
    if credential.owner_type == FEATURE_OWNER_TYPE and credential.owner_id in features:
        return features[credential.owner_id].spec.label
    owner = LEGACY_OWNER_TYPES.get(credential.owner_type)
    return owner.area if owner is not None else credential.owner_type


def legacy_switch_get(*, tenant: Tenant, integration_pk: int, pk: int) -> LegacySwitch:
    return get_object_or_404(LegacySwitch, tenant=tenant, integration_id=integration_pk, pk=pk)


def legacy_switch_latest(integration: Integration) -> LegacySwitch | None:
    return LegacySwitch.objects.filter(integration=integration).first()


def legacy_switch_users(switch: LegacySwitch) -> list[User]:
    """Who had to reconnect when the integration left the legacy app (each row says whether they did)."""
    return list(switch.affected_users.order_by("full_name", "email"))
