"""Helpers for the integrations tests: integrations in a known state, built through the services."""

from __future__ import annotations

from typing import Any

import pytest

from integrations.choices import ConsentState
from integrations.models import Feature, Integration
from integrations.services.integrations import ManualSetup, integration_create_manual

CONTOSO = "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
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
        tenant=admin.tenant, actor=admin, setup=setup, directory_id=directory_id, directory_domain=""
    )


def connected_automatic(admin: Any, *, name: str = "Contoso", directory_id: str = CONTOSO) -> Integration:
    """Create automatically, connected as a Select tenant by a Global Administrator of the directory leaves it
    (that flow itself runs against the emulator in tests/security and tests/e2e)."""
    from django.utils import timezone

    from integrations.choices import DirectoryProof
    from integrations.services.integrations import integration_create_automatic

    integration = integration_create_automatic(tenant=admin.tenant, actor=admin, name=name)
    Integration.objects.filter(pk=integration.pk).update(
        directory_id=directory_id,
        directory_connected_by=f"admin@{name.lower()}.onmicrosoft.com",
        directory_proof=DirectoryProof.ADMIN_SIGN_IN,
        proven_directory_id=directory_id,
        directory_proven_at=timezone.now(),
        directory_proven_by=f"admin@{name.lower()}.onmicrosoft.com",
        directory_proven_role="Global Administrator",
    )
    integration.features.update(directory_id=directory_id)
    integration.refresh_from_db()
    return integration


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


# --- the setup from before integrations ------------------------------------------------------------------

LEGACY_APP = "6e1c0a05-7d2b-4c3e-9f10-000000000a05"
LEGACY_USER_SYNC_APP = "6e1c0a06-7d2b-4c3e-9f10-000000000a06"


@pytest.fixture
def legacy_apps(settings: Any) -> dict[str, str]:
    """The operator's two legacy apps, configured (tests without the emulator use fixed ids)."""
    ids = {"LEGACY": LEGACY_APP, "LEGACY_USER_SYNC": LEGACY_USER_SYNC_APP}
    settings.MICROSOFT_APPS = {
        name: {**app, "client_id": ids.get(name, app["client_id"]), "client_secret": app["client_secret"] or "s"}
        for name, app in settings.MICROSOFT_APPS.items()
    }
    return ids


def stored_credential(
    *,
    tenant: Any,
    owner_type: str,
    owner_id: int,
    client_id: str,
    user: Any = None,
    directory_id: str = CONTOSO,
    token_cache: str = "",
    **fields: Any,
) -> Any:
    """A token-store row as an earlier sign-in left it (the cache is opaque here: it is never read)."""
    from credentials.choices import CredentialKind
    from credentials.models import MicrosoftCredential

    return MicrosoftCredential.objects.create(
        tenant=tenant,
        owner_type=owner_type,
        owner_id=owner_id,
        user=user,
        kind=CredentialKind.DELEGATED_CONFIDENTIAL if user else CredentialKind.APP_ONLY,
        directory_id=directory_id,
        client_id=client_id,
        scopes=["Files.ReadWrite.All"] if user else ["https://graph.microsoft.com/.default"],
        account_username=user.email if user else "",
        token_cache=token_cache or f"cache-of-{owner_type}-{owner_id}-{user.pk if user else 'app'}",
        **fields,
    )
