"""A Roger tenant gets a Microsoft directory's tokens only after an administrator of that directory signed in, in a
flow a tenant admin of this Roger tenant started.

The attacker is a tenant admin of Roger tenant "alpha" who wants another customer's directory: the operator's
apps are multi-tenant and consented by many customers, so the app's secret alone would fetch their tokens.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from credentials.models import MicrosoftCredential
from integrations.errors import IntegrationError
from integrations.models import Feature, Integration
from integrations.services.consent import consent_start
from integrations.services.features import feature_enable
from integrations.services.integrations import integration_create_automatic
from tests.factories import AdminFactory, IntegrationFactory, TenantFactory
from tests.security.conftest import (
    CONTOSO,
    CONTOSO_ADMIN,
    CONTOSO_USER,
    FABRIKAM,
    FABRIKAM_ADMIN,
    NORTHWIND,
    NORTHWIND_CLOUD_ADMIN,
    NORTHWIND_PIM_ADMIN,
    MicrosoftPageError,
    admin_consent_url,
    at_microsoft,
    get_consent_answer,
    page_text,
    post_sign_in_answer,
    state_of,
)

pytestmark = [pytest.mark.emulator, pytest.mark.django_db]

CONSENT_CALLBACK = "http://127.0.0.1:8000/integrations/consent/callback/"


def _detail(client: Client, integration: Integration) -> str:
    return page_text(client.get(reverse("integrations:detail", args=[integration.pk])))


def _feature_row(page: str, feature_type: str) -> str:
    match = re.search(rf'<tr id="feature-{feature_type}">(.*?)</tr>', page, re.DOTALL)
    assert match, f"no row for {feature_type}"
    return match.group(1)


def _add_legacy_manual(client: Client, settings: Any, *, name: str, directory: str) -> Integration:
    legacy = settings.MICROSOFT_APPS["LEGACY"]["client_id"]
    data = {"name": name, "directory": directory, "application_id": legacy, "client_secret": ""}
    response = client.post(reverse("integrations:add_manual"), {**data, "secret_expires_on": ""})
    assert response.status_code == 302, page_text(response)[:2000]
    return Integration.objects.get(name=name)


def _select_tenant(client: Client, m365: Any, integration: Integration, account: tuple[str, str]) -> str:
    start = client.post(reverse("integrations:select_tenant", args=[integration.pk]))
    assert start.status_code == 302, page_text(start)[:2000]
    return page_text(post_sign_in_answer(client, at_microsoft(m365, start["Location"], account)))


# --- the forged consent answer ---------------------------------------------------------------------------


def test_a_forged_consent_answer_never_gets_the_tokens_of_a_directory_nobody_proved(
    m365: Any, admin_a: Any, admin_a_client: Client, settings: Any
) -> None:
    legacy = settings.MICROSOFT_APPS["LEGACY"]["client_id"]
    # Fabrikam, another customer of the operator, consented the legacy application long ago.
    at_microsoft(m365, admin_consent_url(legacy, FABRIKAM, CONSENT_CALLBACK), FABRIKAM_ADMIN)
    # Alpha's admin types Fabrikam's Directory (Tenant) ID with the legacy Application ID (no secret needed)...
    integration = _add_legacy_manual(admin_a_client, settings, name="Not ours", directory=FABRIKAM)
    printing = integration.features.get(feature_type="universal_print")

    # ...starts consent and answers it himself, the way Microsoft would have after a consent.
    start = admin_a_client.post(reverse("integrations:feature_consent", args=[integration.pk, printing.pk]))
    state = state_of(start["Location"]) if "/adminconsent?" in start.get("Location", "") else "none-was-issued"
    forged = {
        "admin_consent": "True",
        "tenant": FABRIKAM,
        "state": state,
        "scope": "https://graph.microsoft.com/.default",
    }
    get_consent_answer(admin_a_client, forged)
    admin_a_client.post(reverse("integrations:feature_enable", args=[integration.pk, printing.pk]))

    assert not MicrosoftCredential.objects.filter(directory_id__iexact=FABRIKAM).exists()
    printing.refresh_from_db()
    assert printing.consent_state != "granted" and not printing.enabled
    assert not AuditEvent.objects.filter(action="integration.consent_granted").exists()
    assert "Prove directory" in _detail(admin_a_client, integration)


def test_the_legacy_application_id_works_once_an_administrator_proved_the_directory(
    m365: Any, admin_a: Any, admin_a_client: Client, settings: Any
) -> None:
    integration = _add_legacy_manual(admin_a_client, settings, name="Contoso legacy", directory=CONTOSO)
    printing = integration.features.get(feature_type="universal_print")
    refused = admin_a_client.post(reverse("integrations:feature_consent", args=[integration.pk, printing.pk]))
    assert refused["Location"] == reverse("integrations:detail", args=[integration.pk])

    start = admin_a_client.post(reverse("integrations:prove_directory", args=[integration.pk]))
    assert f"/{CONTOSO}/oauth2/v2.0/authorize?" in start["Location"]
    with pytest.raises(MicrosoftPageError, match="AADSTS50020"):  # Microsoft itself refuses another directory's user
        at_microsoft(m365, start["Location"], FABRIKAM_ADMIN)
    page = page_text(post_sign_in_answer(admin_a_client, at_microsoft(m365, start["Location"], CONTOSO_ADMIN)))

    assert "Directory proved" in page, page[:3000]
    integration.refresh_from_db()
    assert integration.directory_proven and integration.directory_proven_by == CONTOSO_ADMIN[0]
    consent = admin_a_client.post(reverse("integrations:feature_consent", args=[integration.pk, printing.pk]))
    assert "/adminconsent?" in consent["Location"]
    page = page_text(get_consent_answer(admin_a_client, at_microsoft(m365, consent["Location"], CONTOSO_ADMIN)))
    assert "Consent granted for Universal Print." in page
    credential = MicrosoftCredential.objects.get(owner_type="feature", owner_id=printing.pk)
    assert credential.directory_id == CONTOSO


# --- who may prove a directory ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("account", "directory"),
    [(CONTOSO_USER, CONTOSO), (NORTHWIND_PIM_ADMIN, NORTHWIND)],
    ids=["plain-user", "role-only-eligible-in-pim"],
)
def test_someone_who_is_not_an_administrator_at_select_tenant_connects_nothing(
    m365: Any, admin_a: Any, admin_a_client: Client, account: tuple[str, str], directory: str
) -> None:
    integration = integration_create_automatic(tenant=admin_a.tenant, actor=admin_a, name="Contoso")

    page = _select_tenant(admin_a_client, m365, integration, account)

    integration.refresh_from_db()
    assert integration.directory_id == "" and not integration.features.exclude(directory_id="").exists()
    assert f"{account[0]} is not an administrator" in page
    assert "Global Administrator" in page and "Privileged Role Administrator" in page
    assert "Privileged Identity Management" in page and "activate" in page
    assert not AuditEvent.objects.filter(action="integration.tenant_selected").exists()
    assert AuditEvent.objects.filter(action="integration.tenant_selection_failed").exists()


def test_a_cloud_application_administrator_connects_but_sync_and_print_say_who_grants_them(
    m365: Any, admin_a: Any, admin_a_client: Client
) -> None:
    integration = integration_create_automatic(tenant=admin_a.tenant, actor=admin_a, name="Northwind")

    page = _select_tenant(admin_a_client, m365, integration, NORTHWIND_CLOUD_ADMIN)

    integration.refresh_from_db()
    assert integration.directory_id == NORTHWIND, page[:3000]
    assert integration.directory_proven_role == "Cloud Application Administrator"
    detail = _detail(admin_a_client, integration)
    for feature_type in ("user_sync", "universal_print"):
        assert "Global Administrator or Privileged Role Administrator" in _feature_row(detail, feature_type)
    assert "Privileged Role Administrator" not in _feature_row(detail, "onedrive")


# --- integrations from before the rule ------------------------------------------------------------------------

BEFORE = [("integrations", "0002_legacy_reapply")]


def _rows_before_the_rule(old: Any, tenant: Any, admin: Any) -> dict[str, Any]:
    """An integration of each kind as the upgrade finds them, written with the models of that time."""
    integration_model = old.get_model("integrations", "Integration")
    app_model = old.get_model("integrations", "AppRegistration")
    feature_model = old.get_model("integrations", "Feature")
    common = {"tenant_id": tenant.pk, "created_by_id": admin.pk, "created_at": timezone.now()}
    automatic = integration_model.objects.create(name="Split", setup_mode="automatic", directory_id=CONTOSO, **common)
    legacy = integration_model.objects.create(name="Legacy", setup_mode="manual", directory_id=CONTOSO, **common)
    custom = integration_model.objects.create(name="Custom", setup_mode="manual", directory_id=CONTOSO, **common)
    legacy_app = app_model.objects.create(integration=legacy, kind="legacy", operator_app="LEGACY")
    custom_app = app_model.objects.create(integration=custom, kind="customer", customer_client_id="7e570005")
    features = {}
    for feature_type, operator_app in (("user_sync", "USER_SYNC"), ("universal_print", "UNIVERSAL_PRINT")):
        app = app_model.objects.create(integration=automatic, kind="operator_split", operator_app=operator_app)
        features[feature_type] = feature_model.objects.create(
            integration=automatic,
            app_registration=app,
            tenant_id=tenant.pk,
            directory_id=CONTOSO,
            feature_type=feature_type,
            enabled=feature_type == "user_sync",
            consent_state="granted",
            granted_application=["User.Read.All", "Group.Read.All"] if feature_type == "user_sync" else [],
        )
    for integration, app in ((legacy, legacy_app), (custom, custom_app)):
        feature_model.objects.create(
            integration=integration, app_registration=app, tenant_id=tenant.pk, directory_id="", feature_type="login"
        )
    MicrosoftCredential.objects.create(
        tenant=tenant,
        owner_type="feature",
        owner_id=features["user_sync"].pk,
        kind="app_only",
        directory_id=CONTOSO,
        client_id="6e1c0a02-7d2b-4c3e-9f10-000000000a02",
        token_cache="{}",
    )
    return {"automatic": automatic.pk, "legacy": legacy.pk, "custom": custom.pk}


@pytest.mark.django_db(transaction=True)
def test_integrations_that_exist_at_the_upgrade_keep_working_and_are_asked_to_prove_their_directory() -> None:
    tenant = TenantFactory(name="alpha")
    admin = AdminFactory(tenant=tenant, email="admin@alpha.example")
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        ids = _rows_before_the_rule(executor.loader.project_state(BEFORE).apps, tenant, admin)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    automatic, legacy, custom = (Integration.objects.get(pk=ids[k]) for k in ("automatic", "legacy", "custom"))
    marked = AuditEvent.objects.filter(action="integration.directory_proven_before_rule")
    assert sorted(int(e.target_id) for e in marked) == sorted([automatic.pk, legacy.pk])
    assert all(e.details["directory_id"] == CONTOSO for e in marked)
    # It keeps working: the enabled feature and its token stay, a consented feature can be enabled again...
    user_sync = automatic.features.get(feature_type="user_sync")
    assert user_sync.enabled and MicrosoftCredential.objects.filter(owner_id=user_sync.pk).exists()
    feature_enable(feature=automatic.features.get(feature_type="universal_print"))
    # ...but a new consent asks for the proof first, and the page and the dashboard say so.
    with pytest.raises(IntegrationError, match="Prove"):
        consent_start(feature=user_sync, admin=admin)
    client = Client()
    client.force_login(admin)
    assert "Prove now" in _detail(client, automatic) and "Prove now" in _detail(client, legacy)
    assert "Prove now" not in _detail(client, custom)
    dashboard = page_text(client.get(reverse("dashboard")))
    assert "Split: the Microsoft directory was connected before Roger asked for proof" in dashboard


def test_a_new_feature_of_an_unproven_operator_app_cannot_be_enabled(admin_a: Any) -> None:
    # A typed directory is a claim, not a proof.
    integration = IntegrationFactory(
        automatic=True, tenant=admin_a.tenant, directory_id=CONTOSO, features__consented=True
    )
    feature = Feature.objects.select_related("integration", "app_registration").get(
        integration=integration, feature_type="user_sync"
    )

    with pytest.raises(IntegrationError, match="Prove"):
        feature_enable(feature=feature)
    with pytest.raises(IntegrationError, match="Prove"):
        consent_start(feature=feature, admin=admin_a)
