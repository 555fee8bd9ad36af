"""Integrations over time in a real browser, against the emulator's Microsoft pages: a consent removed in the
directory shows up as needing consent and Reapply Consents repairs it; split apps are reapplied one after
another; leaving the legacy app tells the admin who must reconnect and the user reconnects; warnings.

The emulator is this module's own, its seed registering the live server's callbacks (see test_integrations).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from credentials.choices import CredentialState
from credentials.models import MicrosoftCredential
from integrations.choices import ConsentState
from integrations.legacy.models import LegacyCloudServicesSettings, LegacyUserSyncSettings
from integrations.legacy.services.migration import legacy_migrate
from integrations.models import Integration
from integrations.services.attention import tenant_attention_check
from integrations.services.features import feature_enable
from m365_emulator.testing import EmulatorHandle
from tests.e2e.portal import password_sign_in, sign_in_to_portal
from tests.e2e.test_integrations import (  # the module's emulator fixtures and page helpers
    CUSTOM_APP,
    CUSTOM_SECRET,
    SCREENSHOTS,
    emulator,
    feature_row,
    portal_emulator,
    sign_in_at_microsoft,
)
from tests.factories import MicrosoftCredentialFactory, UserFactory
from tests.integrations.conftest import (
    CONTOSO,
    CONTOSO_ADMIN,
    CONTOSO_USER,
    connected_automatic,
    consented,
    feature_of,
    manual_integration,
)

pytestmark = [pytest.mark.e2e, pytest.mark.emulator, pytest.mark.django_db(transaction=True)]
__all__ = ["emulator", "portal_emulator"]  # fixtures used by name


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"integrations-over-time-{name}.png"), full_page=True)


def open_integration(page: Page, base_url: str, integration: Integration) -> None:
    page.goto(f"{base_url}/administration/integrations/microsoft/{integration.pk}/")


def accept_consent(page: Page) -> None:
    page.locator("#idSIButton9").click()


def _connected_automatic(admin: Any) -> Integration:
    """Split applications whose Select tenant already connected Contoso (that flow is test_integrations')."""
    return connected_automatic(admin)


def test_a_consent_removed_in_the_directory_shows_needs_consent_and_reapply_consents_repairs_it(
    emulator: EmulatorHandle, page: Page, live_server: Any, admin_a: Any, password: str
) -> None:
    integration = _connected_automatic(admin_a)
    user_sync = feature_of(integration, "user_sync")
    connector = user_sync.app_registration.client_id
    sign_in_to_portal(page, live_server.url, password)
    open_integration(page, live_server.url, integration)
    feature_row(page, "user_sync").get_by_role("button", name="Enable").click()
    sign_in_at_microsoft(page, CONTOSO_ADMIN)
    accept_consent(page)
    expect(page.locator(".alert-success")).to_contain_text("Consent granted and User Synchronization enabled.")
    token = MicrosoftCredential.objects.get(owner_type="feature", owner_id=user_sync.pk, user=None)
    assert token.state == CredentialState.ACTIVE

    # An administrator removes the app's consent in the directory; the daily check notices it.
    assert emulator.control.remove_consent(connector, CONTOSO) >= 1
    tenant_attention_check(tenant=admin_a.tenant)
    token.refresh_from_db()
    assert token.state in CredentialState.terminal(), token.state_reason

    page.reload()
    consent = feature_row(page, "user_sync").locator(".consent .health")
    expect(consent).to_have_attribute("data-health", "needs_action")
    expect(consent).to_contain_text("Needs consent")
    expect(page.locator("#attention")).to_contain_text("Contoso: User Synchronization needs consent")
    shot(page, "1-needs-consent")

    page.get_by_role("button", name="Reapply Consents").click()
    expect(page.locator("body")).to_contain_text("Roger Entra ID Connector")
    accept_consent(page)
    expect(page.locator(".alert-success")).to_contain_text("Reapply Consents finished")
    expect(page.locator("#reapply-results")).to_contain_text("User Synchronization")
    expect(page.locator("#reapply-results .badge-ok")).to_have_count(1)
    expect(consent).to_have_attribute("data-health", "ok")
    expect(consent).to_contain_text("Consent granted")
    expect(page.locator("#attention")).to_have_count(0)
    shot(page, "2-reapplied")

    token.refresh_from_db()
    assert token.state == CredentialState.ACTIVE
    admin_consents = {(c["client_id"], c["tenant_id"]) for c in emulator.control.consents() if c["admin_consent"]}
    assert (connector, CONTOSO) in admin_consents


def test_split_apps_are_reapplied_one_after_another_with_progress(
    emulator: EmulatorHandle, page: Page, live_server: Any, admin_a: Any, password: str
) -> None:
    integration = _connected_automatic(admin_a)
    for feature_type in ("login", "user_sync", "onedrive"):
        feature_enable(feature=consented(feature_of(integration, feature_type)))

    sign_in_to_portal(page, live_server.url, password)
    open_integration(page, live_server.url, integration)
    expect(page.locator("#reapply")).to_contain_text("3 applications one after another")
    page.get_by_role("button", name="Reapply Consents").click()
    sign_in_at_microsoft(page, CONTOSO_ADMIN)
    expect(page.locator("body")).to_contain_text("Roger Login")
    accept_consent(page)
    expect(page.locator("#reapply-progress")).to_contain_text("1 of 3 done")
    shot(page, "3-reapply-progress")

    page.get_by_role("button", name="Continue: consent 2 of 3").click()
    expect(page.locator("body")).to_contain_text("Roger Entra ID Connector")
    accept_consent(page)
    expect(page.locator("#reapply-progress")).to_contain_text("2 of 3 done")
    page.get_by_role("button", name="Continue: consent 3 of 3").click()
    expect(page.locator("body")).to_contain_text("Roger for OneDrive")
    accept_consent(page)
    expect(page.locator(".alert-success")).to_contain_text("Reapply Consents finished")
    results = page.locator("#reapply-results")
    for label in ("Login", "User Synchronization", "OneDrive"):
        expect(results).to_contain_text(label)
    expect(results.locator(".badge-ok")).to_have_count(3)
    shot(page, "4-reapply-results")

    consented_apps = {c["client_id"] for c in emulator.control.consents() if c["admin_consent"]}
    apps = {feature_of(integration, t).app_registration.client_id for t in ("login", "user_sync", "onedrive")}
    assert apps <= consented_apps
    user_sync = feature_of(integration, "user_sync")
    assert MicrosoftCredential.objects.get(owner_type="feature", owner_id=user_sync.pk).state == CredentialState.ACTIVE


def test_leaving_the_legacy_app_lists_who_must_reconnect_and_the_user_reconnects(
    emulator: EmulatorHandle, page: Page, browser: Browser, live_server: Any, admin_a: Any, password: str
) -> None:
    tenant, now = admin_a.tenant, timezone.now()
    sync = LegacyUserSyncSettings.objects.create(
        tenant=tenant, enabled=True, directory_id=CONTOSO, admin_consent_granted_at=now
    )
    cloud = LegacyCloudServicesSettings.objects.create(
        tenant=tenant, onedrive_enabled=True, directory_id=CONTOSO, admin_consent_granted_at=now
    )
    adele: Any = UserFactory(tenant=tenant, email="adele@alpha.example", full_name="Adele Vance")
    legacy_app = settings.MICROSOFT_APPS["LEGACY"]["client_id"]
    legacy_sync_app = settings.MICROSOFT_APPS["LEGACY_USER_SYNC"]["client_id"]
    MicrosoftCredentialFactory(
        tenant=tenant, owner_type="legacy_user_sync", owner_id=sync.pk, client_id=legacy_sync_app
    )
    MicrosoftCredentialFactory(
        tenant=tenant, owner_type="legacy_cloud_storage", owner_id=cloud.pk, client_id=legacy_app, user=adele
    )
    integration = legacy_migrate(tenant=tenant, actor=admin_a).integration
    assert integration is not None

    sign_in_to_portal(page, live_server.url, password)
    open_integration(page, live_server.url, integration)
    expect(page.locator("#directory")).to_contain_text(CONTOSO)
    expect(page.locator("body")).to_contain_text("Roger User Synchronization (legacy)")
    shot(page, "5-legacy-integration")
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_label("Application ID")).to_have_value(legacy_app)
    page.get_by_label("Application ID").fill(CUSTOM_APP)
    page.get_by_label("Application Secret", exact=True).fill(CUSTOM_SECRET)
    page.get_by_role("button", name="Save").click()
    impact = page.locator("#impact")
    expect(impact).to_contain_text("You are leaving the legacy application")
    expect(impact.locator("#impact-users")).to_contain_text("Adele Vance <adele@alpha.example>")
    expect(impact.locator("#impact-tokens")).to_contain_text("User Synchronization: the application's token")
    shot(page, "6-leaving-legacy-confirm")
    page.get_by_label("Application Secret", exact=True).fill(CUSTOM_SECRET)
    page.get_by_label("I understand, save the change").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Left the legacy application")).to_be_visible()
    expect(page.locator("#affected-users")).to_contain_text("Adele Vance")
    expect(page.locator("#affected-users")).to_contain_text("Not reconnected yet")
    shot(page, "7-affected-users")
    assert not MicrosoftCredential.objects.exists()

    # Adele's next visit asks her to reconnect; connecting OneDrive at Microsoft clears it.
    user_page = browser.new_context().new_page()
    password_sign_in(user_page, live_server.url, password, tenancy="alpha", email=adele.email)
    expect(user_page.locator(".banner")).to_contain_text("Your Microsoft connection needs to be renewed")
    shot(user_page, "8-user-banner")
    user_page.get_by_role("link", name="Reconnect now").click()
    expect(user_page.locator("#reconnect-needed")).to_contain_text("Connect again.")
    shot(user_page, "9-cloud-services")
    user_page.get_by_role("button", name="Sign in with Microsoft").click()
    sign_in_at_microsoft(user_page, CONTOSO_USER)
    accept_consent(user_page)
    expect(user_page.locator(".alert-success")).to_contain_text(f"OneDrive connected as {CONTOSO_USER[0]}")
    expect(user_page.locator("#connections")).to_contain_text("Connected")
    expect(user_page.locator(".banner")).to_have_count(0)
    shot(user_page, "10-reconnected")
    adele.refresh_from_db()
    assert not adele.microsoft_reconnect_required
    credential = MicrosoftCredential.objects.get(user=adele)
    assert credential.client_id == CUSTOM_APP and credential.directory_id == CONTOSO

    page.reload()
    expect(page.locator("#affected-users")).to_contain_text("Done")


def test_secret_expiry_warning_on_the_dashboard_and_the_integrations_page(
    emulator: EmulatorHandle, page: Page, live_server: Any, admin_a: Any, password: str
) -> None:
    integration = manual_integration(admin_a, name="Contoso", application_id=CUSTOM_APP, client_secret=CUSTOM_SECRET)
    app = integration.app_registrations.get()
    app.secret_expires_on = timezone.localdate() + timedelta(days=30)
    app.save()
    onedrive = feature_of(integration, "onedrive")
    onedrive.enabled, onedrive.consent_state = True, ConsentState.NEEDS_CONSENT
    onedrive.save()

    sign_in_to_portal(page, live_server.url, password)
    attention = page.get_by_role("region", name="Needs attention")
    expect(attention).to_contain_text("Contoso: the Application Secret expires in 30 day(s)")
    expect(attention).to_contain_text("Contoso: OneDrive is enabled but needs consent")
    shot(page, "11-dashboard")
    page.get_by_role("link", name="Integrations", exact=True).click()
    expect(page.locator("#attention")).to_contain_text("expires in 30 day(s)")
    shot(page, "12-list-warnings")
