"""Helpers for the integrations tests: integrations in a known state, built through the services or the
factories (tests/factories.py)."""

from __future__ import annotations

from typing import Any

import pytest

from integrations.choices import ConsentState
from integrations.models import Feature, Integration
from integrations.services.integrations import CheckedSetup, ManualSetup, integration_create_manual
from tests.factories import CONTOSO, IntegrationFactory

FABRIKAM = "9e8d7c6b-5a49-4382-a716-f5e4d3c2b1a0"
CONTOSO_ADMIN = ("admin@contoso.onmicrosoft.com", "Contoso-Admin-1")
CONTOSO_USER = ("adele.vance@contoso.onmicrosoft.com", "Contoso-User-1")
FABRIKAM_ADMIN = ("admin@fabrikam.onmicrosoft.com", "Fabrikam-Admin-1")
CUSTOM_APP = "7e570005-0000-4000-8000-000000000005"  # "Test Single Tenant App", registered in Contoso
CUSTOM_SECRET = "single~Secret.Value.0005"
EXPIRED_SECRET_APP = "7e570004-0000-4000-8000-000000000004"
EXPIRED_SECRET = "old~Secret.Value.0004"
UNKNOWN_APP = "11111111-2222-4333-8444-555555555555"


def manual_integration(
    admin: Any,
    *,
    name: str = "Contoso",
    directory_id: str = CONTOSO,
    application_id: str = CUSTOM_APP,
    client_secret: str = CUSTOM_SECRET,
) -> Integration:
    """A custom-app integration created without calling Microsoft (the check is the view's job)."""
    setup = ManualSetup(
        name=name,
        directory=directory_id,
        application_id=application_id,
        client_secret=client_secret,
        secret_expires_on=None,
    )
    return integration_create_manual(
        tenant=admin.tenant, actor=admin, checked=CheckedSetup(setup, directory_id=directory_id)
    )


def connected_automatic(admin: Any, *, name: str = "Contoso", directory_id: str = CONTOSO) -> Integration:
    """Create automatically, connected as a Select tenant by a Global Administrator of the directory leaves it
    (that flow itself runs against the emulator in tests/security and tests/e2e)."""
    return IntegrationFactory(
        automatic=True, proven=True, tenant=admin.tenant, created_by=admin, name=name, directory_id=directory_id
    )


def consented(feature: Feature) -> Feature:
    feature.consent_state = ConsentState.GRANTED
    feature.granted_delegated = list(feature.spec.delegated)
    feature.granted_application = list(feature.spec.application)
    feature.save()
    return feature


def feature_of(integration: Integration, feature_type: str) -> Feature:
    return integration.features.get(feature_type=feature_type)


@pytest.fixture
def contoso_a(admin_a: Any) -> Integration:
    return manual_integration(admin_a)
