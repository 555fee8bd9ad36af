"""Reads, always scoped to the current Roger tenant (another tenant's objects are 404)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import Tenant
from integrations.choices import ConsentState
from integrations.features import SIGN_IN_SCOPES, permission_names
from integrations.models import Feature, Integration

FEATURE_OWNER_TYPE = "feature"


def integration_list(*, tenant: Tenant) -> QuerySet[Integration]:
    return Integration.objects.filter(tenant=tenant).prefetch_related("features__app_registration")


def integration_get(*, tenant: Tenant, pk: int) -> Integration:
    return get_object_or_404(Integration, tenant=tenant, pk=pk)


def feature_get(*, tenant: Tenant, integration_pk: int, pk: int) -> Feature:
    return get_object_or_404(
        Feature.objects.select_related("integration", "app_registration"),
        tenant=tenant,
        integration_id=integration_pk,
        pk=pk,
    )


def legacy_application_id_for(*, tenant: Tenant) -> str | None:
    """The legacy app's Application ID when this Roger tenant had a connection before integrations existed.

    Issue 8 (legacy migration) answers this from its models; until then no tenant has one.
    """
    return None


@dataclass(frozen=True)
class PermissionRow:
    name: str
    kind: str  # "Delegated" or "Application"
    granted: bool


def feature_permissions(feature: Feature) -> list[PermissionRow]:
    """What the feature needs beside what the directory granted (delegated from the token response's
    `scope`, application from the admin-consent record)."""
    spec = feature.spec
    per_user = feature.consent_state == ConsentState.PER_USER
    delegated = permission_names(feature.granted_delegated)
    application = permission_names(feature.granted_application)
    rows = [PermissionRow(name, "Delegated", per_user or name.lower() in delegated) for name in spec.delegated]
    rows += [PermissionRow(name, "Application", name.lower() in application) for name in spec.application]
    return rows


def feature_missing_permissions(feature: Feature) -> list[PermissionRow]:
    if feature.consent_state not in (ConsentState.GRANTED, ConsentState.PER_USER):
        return []
    return [row for row in feature_permissions(feature) if not row.granted]


def sign_in_scopes() -> tuple[str, ...]:
    return SIGN_IN_SCOPES


def feature_credential_count(*, tenant: Tenant, feature_ids: list[int], exclude_directory: str | None = None) -> int:
    """How many stored Microsoft connections (token store) the features own, optionally only those bound to
    another directory than `exclude_directory`."""
    from credentials.models import MicrosoftCredential

    credentials = MicrosoftCredential.objects.filter(
        tenant=tenant, owner_type=FEATURE_OWNER_TYPE, owner_id__in=feature_ids
    )
    if exclude_directory is not None:
        credentials = credentials.exclude(directory_id__iexact=exclude_directory)
    return credentials.count()


def feature_connected_user_count(*, tenant: Tenant, feature_ids: list[int]) -> int:
    from credentials.models import MicrosoftCredential

    return (
        MicrosoftCredential.objects.filter(
            tenant=tenant, owner_type=FEATURE_OWNER_TYPE, owner_id__in=feature_ids, user__isnull=False
        )
        .values("user")
        .distinct()
        .count()
    )
