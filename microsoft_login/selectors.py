"""Reads for Login with Microsoft, scoped to one Roger tenant."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from accounts.selectors import tenant_by_name
from integrations.choices import FeatureType
from integrations.selectors import features_of_type
from microsoft_login.models import LoginSettings

if TYPE_CHECKING:
    from accounts.models import Tenant
    from integrations.models import Feature


def login_features(*, tenant: Tenant) -> QuerySet[Feature]:
    """The tenant's enabled Login features: each is a "Sign in with Microsoft" button (usually one)."""
    return (
        features_of_type(tenant=tenant, feature_type=FeatureType.LOGIN)
        .filter(enabled=True)
        .order_by("integration__name", "pk")
    )


def login_features_for_tenancy(*, tenancy_name: str) -> list[Feature]:
    """The same, for a tenancy name typed on the sign-in page (nothing for a name no tenant has)."""
    tenant = tenant_by_name(name=tenancy_name)
    return list(login_features(tenant=tenant)) if tenant is not None else []


def login_feature_for_tenancy(*, tenancy_name: str, pk: int | str) -> Feature | None:
    """The enabled Login feature `pk` of a tenancy name typed on the sign-in page (the button's feature), or None."""
    tenant = tenant_by_name(name=tenancy_name)
    return login_features(tenant=tenant).filter(pk=pk).first() if tenant is not None else None


def login_settings_of(*, tenant: Tenant) -> LoginSettings:
    """The tenant's settings; unsaved defaults (nobody registers, no personal accounts) when it has none."""
    return LoginSettings.objects.filter(tenant=tenant).first() or LoginSettings(tenant=tenant)
