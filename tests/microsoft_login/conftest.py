"""Login with Microsoft in a known state: an enabled Login feature (the operator's Login app), Roger users linked to
emulator identities, and a person signing in at the emulator's real pages from a test client (one browser)."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from integrations.choices import ConsentState
from integrations.models import Feature
from tests.factories import IntegrationFactory, UserFactory
from tests.integrations.conftest import connected_automatic, consented, feature_of
from tests.security.conftest import at_microsoft, post_sign_in_answer

CONTOSO = "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
FABRIKAM = "9e8d7c6b-5a49-4382-a716-f5e4d3c2b1a0"
PERSONAL = "9188040d-6c67-4c5b-b112-36a304b66dad"
ADELE = ("adele.vance@contoso.onmicrosoft.com", "Contoso-User-1")
ADELE_ID = "a1b2c3d4-0002-4000-8000-00000000c002"
ALEX = ("alex.wilber@contoso.onmicrosoft.com", "Contoso-User-1")
CONTOSO_ADMIN = ("admin@contoso.onmicrosoft.com", "Contoso-Admin-1")
CONTOSO_ADMIN_ID = "a1b2c3d4-0001-4000-8000-00000000c001"
MEGAN = ("megan.bowen@fabrikam.onmicrosoft.com", "Fabrikam-User-1")
MEGAN_ID = "b1b2c3d4-0002-4000-8000-00000000f002"
PERSONAL_ACCOUNT = ("someone@outlook.test", "Personal-1")
PERSONAL_ID = "e1b2c3d4-0001-4000-8000-00000000d001"


def login_feature(admin: Any, *, directory_id: str = CONTOSO, name: str = "Contoso") -> Feature:
    """An integration of the admin's tenant (Create automatically, proven) whose Login feature is enabled; without a
    directory, each user consents for themselves."""
    if directory_id:
        integration = connected_automatic(admin, directory_id=directory_id, name=name)
        feature = consented(feature_of(integration, "login"))
    else:
        integration = IntegrationFactory(
            automatic=True, tenant=admin.tenant, created_by=admin, name=name, directory_id=""
        )
        feature = feature_of(integration, "login")
        feature.consent_state, feature.directory_id = ConsentState.PER_USER, ""
    feature.enabled, feature.enabled_at = True, timezone.now()
    feature.save()
    return Feature.objects.select_related("integration", "app_registration").get(pk=feature.pk)


def linked(tenant: Any, email: str, object_id: str, directory_id: str = CONTOSO, **fields: Any) -> Any:
    return UserFactory(
        tenant=tenant, email=email, directory_tenant_id=directory_id, directory_object_id=object_id, **fields
    )


def microsoft_start(client: Client, tenancy: str, feature: Feature, email: str = "") -> Any:
    return client.post(
        reverse("microsoft_login:start"),
        {"tenancy_name": tenancy, "feature": feature.pk, "email": email},
    )


def microsoft_sign_in(
    m365: Any,
    client: Client,
    feature: Feature,
    account: tuple[str, str],
    *,
    tenancy: str = "alpha",
    accept: bool = True,
) -> Any:
    """Sign in with Microsoft in `client` (one browser), from the button to the page the portal ends on."""
    start = microsoft_start(client, tenancy, feature)
    assert start.status_code == 302 and "/authorize?" in start["Location"], start
    answer = at_microsoft(m365, start["Location"], account, accept=accept)
    return post_sign_in_answer(client, answer)


def signed_in_as(client: Client) -> int | None:
    value = client.session.get("_auth_user_id")
    return int(value) if value else None
