"""Login with Microsoft in Chromium against the emulator's sign-in pages: the portal on the live server, Microsoft on
the emulator (another site). Who signs in (a synced user, a local user who linked their account, a registered
newcomer, a personal account where allowed), who is refused and told why, sign-out with and without Microsoft's, and
the button only while Login is enabled."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from accounts.choices import UserSource
from accounts.models import User
from integrations.services.features import feature_disable
from m365_emulator.testing import EmulatorHandle
from microsoft_login.models import LoginSettings
from tests.e2e.portal import PAGE_LOAD_MS, sign_in_to_portal, tenancy_chosen
from tests.e2e.test_integrations import (  # the browser tests' own emulator, seeded with the live server's URIs
    CUSTOM_APP,
    CUSTOM_SECRET,
    SCREENSHOTS,
    emulator,
    portal_emulator,
    sign_in_at_microsoft,
)
from tests.integrations.conftest import consented, feature_of, manual_integration
from tests.microsoft_login.conftest import (
    ADELE,
    ADELE_ID,
    ALEX,
    CONTOSO,
    CONTOSO_ADMIN,
    MEGAN,
    MEGAN_ID,
    PERSONAL,
    PERSONAL_ACCOUNT,
    PERSONAL_ID,
    linked,
    login_feature,
)
from tests.security.conftest import admin_consent_url, at_microsoft

__all__ = ["emulator", "portal_emulator"]  # fixtures used by name

pytestmark = [pytest.mark.e2e, pytest.mark.emulator, pytest.mark.django_db(transaction=True)]


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"login-with-microsoft-{name}.png"), full_page=True)


def contoso_login(emulator: EmulatorHandle, live_server: Any, admin: Any, *, directory_id: str = CONTOSO) -> Any:
    """An enabled Login feature, and Contoso's administrator's consent to the Login app at the emulator's page (so
    Contoso's people are not asked to consent one by one)."""
    feature = login_feature(admin, directory_id=directory_id)
    login_app = django_settings.MICROSOFT_APPS["LOGIN"]["client_id"]
    consent_redirect = f"{live_server.url}/integrations/consent/callback/"
    at_microsoft(emulator, admin_consent_url(login_app, CONTOSO, consent_redirect), CONTOSO_ADMIN)
    return feature


def with_microsoft(page: Page, base_url: str, account: tuple[str, str], *, email: str = "") -> None:
    """The sign-in's two steps, then Sign in with Microsoft, then Microsoft's page."""
    tenancy_chosen(page, base_url)
    if email:
        page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Sign in with Microsoft").click()
    if email:
        expect(page.locator("#login")).to_have_value(email)  # Microsoft got the login_hint
    sign_in_at_microsoft(page, account)


def expect_signed_in(page: Page) -> None:
    expect(page.get_by_role("navigation", name="Main")).to_be_visible(timeout=PAGE_LOAD_MS)


def expect_refused(page: Page, words: str) -> None:
    expect(page.get_by_role("heading", name="You are not signed in")).to_be_visible(timeout=PAGE_LOAD_MS)
    expect(page.get_by_role("alert")).to_contain_text(words)
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)


def test_a_synced_user_signs_in_and_signs_out_of_microsoft_too(
    emulator: EmulatorHandle, page: Page, live_server: Any, admin_a: Any
) -> None:
    contoso_login(emulator, live_server, admin_a)
    linked(admin_a.tenant, ADELE[0], ADELE_ID, source=UserSource.SYNCED, full_name="Adele Vance")
    tenancy_chosen(page, live_server.url)
    shot(page, "1-tenant-page")
    with_microsoft(page, live_server.url, ADELE, email=ADELE[0])
    expect_signed_in(page)
    expect(page.locator(".signout")).to_contain_text(ADELE[0])

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="You are signed out of Roger")).to_be_visible()
    shot(page, "2-signed-out")
    page.get_by_role("link", name="Sign out of Microsoft too").click()
    expect(page.get_by_role("heading", name="Sign in to Roger")).to_be_visible(timeout=PAGE_LOAD_MS)
    assert emulator.control.requests_received("logout")


def test_sign_out_without_microsofts_after_a_password_sign_in(
    emulator: EmulatorHandle, page: Page, live_server: Any, admin_a: Any, password: str
) -> None:
    contoso_login(emulator, live_server, admin_a)
    sign_in_to_portal(page, live_server.url, password)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to Roger")).to_be_visible()
    expect(page.locator("body")).to_contain_text("You are signed out.")
    expect(page.get_by_role("link", name="Sign out of Microsoft too")).to_have_count(0)


def test_a_local_user_links_their_account_then_signs_in_with_it(
    emulator: EmulatorHandle, page: Page, live_server: Any, admin_a: Any, user_a: Any, password: str
) -> None:
    contoso_login(emulator, live_server, admin_a)
    sign_in_to_portal(page, live_server.url, password, email=user_a.email)
    page.get_by_role("link", name="Microsoft Account").click()
    page.get_by_role("button", name="Link my Microsoft account").click()
    sign_in_at_microsoft(page, ADELE)
    expect(page.locator(".alert-success")).to_contain_text(f"Your Microsoft account {ADELE[0]} is linked")
    shot(page, "3-linked")
    page.get_by_role("button", name="Sign out").click()

    with_microsoft(page, live_server.url, ADELE)
    expect_signed_in(page)
    expect(page.locator(".signout")).to_contain_text(user_a.email)


def test_an_unknown_user_is_refused_then_admitted_once_the_tenant_allows_registration(
    emulator: EmulatorHandle, page: Page, browser: Browser, live_server: Any, admin_a: Any, password: str
) -> None:
    contoso_login(emulator, live_server, admin_a)
    with_microsoft(page, live_server.url, ALEX)
    expect_refused(page, f"Roger has no user with the Microsoft account {ALEX[0]}")
    shot(page, "4-unknown-refused")

    admin_page = browser.new_context().new_page()
    sign_in_to_portal(admin_page, live_server.url, password)
    admin_page.get_by_role("link", name="Login with Microsoft").click()
    admin_page.get_by_label("Allow users to register themselves").check()
    admin_page.get_by_role("button", name="Save").click()
    expect(admin_page.locator(".alert-success")).to_contain_text("Saved.")

    with_microsoft(page, live_server.url, ALEX)
    expect_signed_in(page)
    assert User.objects.get(tenant=admin_a.tenant, email=ALEX[0]).directory_tenant_id == CONTOSO


def test_a_deactivated_user_is_refused(emulator: EmulatorHandle, page: Page, live_server: Any, admin_a: Any) -> None:
    contoso_login(emulator, live_server, admin_a)
    linked(admin_a.tenant, ADELE[0], ADELE_ID, is_active=False)
    with_microsoft(page, live_server.url, ADELE)
    expect_refused(page, "is deactivated")


def test_a_user_of_another_directory_is_refused_with_the_explanation(
    emulator: EmulatorHandle, page: Page, live_server: Any, admin_a: Any
) -> None:
    contoso_login(emulator, live_server, admin_a)
    with_microsoft(page, live_server.url, MEGAN)
    page.locator("#idSIButton9").click()  # Megan consents for herself (Fabrikam lets users consent)
    expect_refused(page, "belongs to another organisation")
    expect(page.get_by_role("alert")).to_contain_text("AADSTS50020")
    shot(page, "5-other-directory")


def test_a_personal_account_with_a_directory_is_refused_by_microsoft(
    emulator: EmulatorHandle, page: Page, live_server: Any, admin_a: Any
) -> None:
    contoso_login(emulator, live_server, admin_a)
    linked(admin_a.tenant, PERSONAL_ACCOUNT[0], PERSONAL_ID, directory_id=PERSONAL)
    tenancy_chosen(page, live_server.url)
    expect(page.locator("#microsoft-help")).to_contain_text("AADSTS50020")  # what Microsoft's refusal means
    with_microsoft(page, live_server.url, PERSONAL_ACCOUNT)
    expect(page.locator("#message")).to_contain_text("AADSTS50020")  # Microsoft's page: organisations only


def test_a_personal_account_without_a_directory_signs_in_only_when_allowed(
    emulator: EmulatorHandle, page: Page, live_server: Any, admin_a: Any
) -> None:
    login_feature(admin_a, directory_id="")
    person = linked(admin_a.tenant, PERSONAL_ACCOUNT[0], PERSONAL_ID, directory_id=PERSONAL)
    with_microsoft(page, live_server.url, PERSONAL_ACCOUNT)
    expect(page.locator("#message")).to_contain_text("AADSTS50020")

    LoginSettings.objects.create(tenant=admin_a.tenant, allow_personal_accounts=True)
    with_microsoft(page, live_server.url, PERSONAL_ACCOUNT)
    page.locator("#idSIButton9").click()  # a personal account consents for itself
    expect_signed_in(page)
    expect(page.locator(".signout")).to_contain_text(person.email)


def test_the_button_shows_only_while_login_is_enabled(
    emulator: EmulatorHandle, page: Page, live_server: Any, admin_a: Any
) -> None:
    feature = contoso_login(emulator, live_server, admin_a)
    tenancy_chosen(page, live_server.url)
    expect(page.get_by_role("button", name="Sign in with Microsoft")).to_be_visible()
    feature_disable(feature=feature)
    tenancy_chosen(page, live_server.url)
    expect(page.get_by_role("button", name="Sign in with Microsoft")).to_have_count(0)


def test_a_user_of_another_directory_linked_elsewhere_is_still_refused(
    emulator: EmulatorHandle, page: Page, live_server: Any, admin_a: Any
) -> None:
    """Linked or not, an account of another directory than the integration's does not sign in here."""
    contoso_login(emulator, live_server, admin_a)
    linked(admin_a.tenant, MEGAN[0], MEGAN_ID, directory_id="9e8d7c6b-5a49-4382-a716-f5e4d3c2b1a0")
    with_microsoft(page, live_server.url, MEGAN)
    page.locator("#idSIButton9").click()
    expect_refused(page, "belongs to another organisation")


def test_with_the_customers_own_app_microsoft_refuses_other_directories_itself(
    emulator: EmulatorHandle, page: Page, live_server: Any, admin_a: Any
) -> None:
    """A customer's app may be registered for its directory only, so the sign-in happens at that directory: Microsoft
    answers another directory's account with AADSTS50020 on its own page, which the tenant's page explains."""
    integration = manual_integration(admin_a, application_id=CUSTOM_APP, client_secret=CUSTOM_SECRET)
    feature = consented(feature_of(integration, "login"))
    feature.enabled, feature.enabled_at = True, timezone.now()
    feature.save()
    linked(admin_a.tenant, ADELE[0], ADELE_ID)

    with_microsoft(page, live_server.url, MEGAN)
    expect(page.locator("#message")).to_contain_text("AADSTS50020")

    page.context.clear_cookies()
    with_microsoft(page, live_server.url, ADELE)
    page.locator("#idSIButton9").click()  # Adele consents to the customer's app for herself
    expect_signed_in(page)
    authorize = emulator.control.requests_received("authorize")[-1]
    assert authorize["path"] == f"/{CONTOSO}/oauth2/v2.0/authorize"
