"""Every Microsoft answer is accepted only in the browser that started its flow.

The attack: someone starts a flow (Select tenant, Prove directory, a consent, Reapply Consents, OneDrive's Connect),
copies Microsoft's URL and gets someone else to sign in with it; without the binding, the other person's account or
directory would end up bound to the attacker's session. With Django's test client one client is one browser; the
Chromium tests use two browser contexts, with the portal on `localhost` and Microsoft's pages on `127.0.0.1` so the
browser treats them as different sites (as in production), and a SameSite mistake would show.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from credentials.models import MicrosoftCredential
from integrations.models import Integration, ReapplyRun
from integrations.services.features import feature_enable
from integrations.services.integrations import integration_create_automatic
from m365_emulator.testing import EmulatorHandle
from tests.e2e.portal import sign_in_to_portal
from tests.e2e.test_integrations import (  # the browser tests' own emulator, seeded with the live server's URIs
    CUSTOM_APP,
    CUSTOM_SECRET,
    SCREENSHOTS,
    emulator,
    portal_emulator,
    sign_in_at_microsoft,
)
from tests.factories import UserFactory
from tests.integrations.conftest import consented, feature_of, manual_integration
from tests.security.conftest import (
    CONTOSO,
    CONTOSO_ADMIN,
    CONTOSO_USER,
    at_microsoft,
    get_consent_answer,
    page_text,
    post_sign_in_answer,
    state_of,
)

__all__ = ["emulator", "portal_emulator"]  # fixtures used by name

REFUSED = "was not started in this browser"
NOTHING_CHANGED = "nothing was changed"


def _elsewhere(user: Any = None) -> Client:
    """Another browser, signed in to the portal as `user` (or not signed in at all)."""
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _connected(client: Client, m365: Any, admin: Any) -> Integration:
    integration = integration_create_automatic(tenant=admin.tenant, actor=admin, name="Contoso")
    start = client.post(reverse("integrations:select_tenant", args=[integration.pk]))
    post_sign_in_answer(client, at_microsoft(m365, start["Location"], CONTOSO_ADMIN))
    integration.refresh_from_db()
    assert integration.directory_id == CONTOSO
    return integration


def _finish_url(state: str) -> str:
    return f"{reverse('integration_callbacks:sign_in_finish')}?state={state}"


# --- each flow, in two test-client browsers ---------------------------------------------------------------------


@pytest.mark.emulator
@pytest.mark.django_db
def test_a_select_tenant_answer_finished_in_another_browser_connects_nothing(
    m365: Any, admin_a: Any, admin_a_client: Client
) -> None:
    integration = integration_create_automatic(tenant=admin_a.tenant, actor=admin_a, name="Contoso")
    start = admin_a_client.post(reverse("integrations:select_tenant", args=[integration.pk]))
    answer = at_microsoft(m365, start["Location"], CONTOSO_ADMIN)

    page = page_text(post_sign_in_answer(_elsewhere(admin_a), answer))  # the same admin, another browser
    admin_a_client.get(_finish_url(state_of(start["Location"])), follow=True)  # the starter cannot finish it now

    assert REFUSED in page and NOTHING_CHANGED in page
    integration.refresh_from_db()
    assert integration.directory_id == "" and not integration.directory_connected_by


@pytest.mark.emulator
@pytest.mark.django_db
def test_a_prove_directory_answer_finished_in_another_browser_proves_nothing(
    m365: Any, admin_a: Any, admin_a_client: Client, settings: Any
) -> None:
    integration = manual_integration(
        admin_a, application_id=settings.MICROSOFT_APPS["LEGACY"]["client_id"], client_secret=""
    )
    start = admin_a_client.post(reverse("integrations:prove_directory", args=[integration.pk]))
    answer = at_microsoft(m365, start["Location"], CONTOSO_ADMIN)

    page = page_text(post_sign_in_answer(_elsewhere(admin_a), answer))

    assert REFUSED in page
    integration.refresh_from_db()
    assert not integration.directory_proven


@pytest.mark.emulator
@pytest.mark.django_db
def test_an_admin_consent_answer_finished_in_another_browser_grants_nothing(
    m365: Any, admin_a: Any, admin_a_client: Client
) -> None:
    integration = _connected(admin_a_client, m365, admin_a)
    user_sync = feature_of(integration, "user_sync")
    start = admin_a_client.post(reverse("integrations:feature_consent", args=[integration.pk, user_sync.pk]))
    answer = at_microsoft(m365, start["Location"], CONTOSO_ADMIN)

    page = page_text(get_consent_answer(_elsewhere(admin_a), answer))
    get_consent_answer(admin_a_client, answer)  # used up: the starter's browser cannot replay it

    assert REFUSED in page
    user_sync.refresh_from_db()
    assert user_sync.consent_state == "not_granted"
    assert not MicrosoftCredential.objects.filter(owner_type="feature", owner_id=user_sync.pk).exists()


@pytest.mark.emulator
@pytest.mark.django_db
def test_a_reapply_consents_answer_finished_in_another_browser_moves_nothing(
    m365: Any, admin_a: Any, admin_a_client: Client
) -> None:
    integration = _connected(admin_a_client, m365, admin_a)
    feature_enable(feature=consented(feature_of(integration, "user_sync")))
    start = admin_a_client.post(reverse("integrations:reapply_start", args=[integration.pk]))
    answer = at_microsoft(m365, start["Location"], CONTOSO_ADMIN)

    page = page_text(get_consent_answer(_elsewhere(admin_a), answer))

    assert REFUSED in page
    run = ReapplyRun.objects.get()
    assert run.position == 0 and run.results == []


@pytest.mark.emulator
@pytest.mark.django_db
def test_a_onedrive_connection_finished_in_another_browser_connects_nobody(
    m365: Any, admin_a: Any, admin_a_client: Client, user_a: Any, user_a_client: Client
) -> None:
    integration = _connected(admin_a_client, m365, admin_a)
    feature_enable(feature=consented(feature_of(integration, "onedrive")))
    onedrive = feature_of(integration, "onedrive")
    start = user_a_client.post(reverse("integrations:cloud_services_connect", args=[onedrive.pk]))
    answer = at_microsoft(m365, start["Location"], CONTOSO_USER)  # someone else signs in with the link

    page = page_text(post_sign_in_answer(_elsewhere(), answer))
    user_a_client.get(_finish_url(state_of(start["Location"])), follow=True)

    assert REFUSED in page
    assert not MicrosoftCredential.objects.filter(user=user_a).exists()


@pytest.mark.emulator
@pytest.mark.django_db
def test_the_anonymous_form_post_only_records_the_answer_encrypted(m365: Any, admin_a: Any, admin_a_client: Client):
    from django.db import connection

    integration = integration_create_automatic(tenant=admin_a.tenant, actor=admin_a, name="Contoso")
    start = admin_a_client.post(reverse("integrations:select_tenant", args=[integration.pk]))
    answer = at_microsoft(m365, start["Location"], CONTOSO_ADMIN)
    m365.control.clear_requests()

    response = _elsewhere().post(reverse("integration_callbacks:select_tenant"), answer)

    assert response.status_code == 302 and "answer=" in response["Location"]
    assert m365.control.requests_received("token") == [], "no code is redeemed before the browser is checked"
    with connection.cursor() as cursor:
        cursor.execute("SELECT answer FROM integrations_authorizationflow")
        (stored,) = cursor.fetchone()
    assert stored and answer["code"].encode() not in bytes(stored), "the code is stored encrypted"


@pytest.mark.django_db
def test_the_flow_cookie_is_http_only_lax_and_secure_in_production(
    m365: Any, admin_a: Any, admin_a_client: Client, settings: Any
) -> None:
    settings.SESSION_COOKIE_SECURE = True  # what production runs with
    integration = integration_create_automatic(tenant=admin_a.tenant, actor=admin_a, name="Contoso")

    start = admin_a_client.post(reverse("integrations:select_tenant", args=[integration.pk]))

    cookies = [c for name, c in start.cookies.items() if name != django_settings.SESSION_COOKIE_NAME]
    assert len(cookies) == 1, start.cookies
    cookie = cookies[0]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["secure"]
    assert state_of(start["Location"]) not in cookie.value, "the cookie carries its own secret, not the state"


# --- in Chromium, two browser contexts ---------------------------------------------------------------------------


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"security-{name}.png"), full_page=True)


def _accept_if_asked(page: Page) -> None:
    """Microsoft asks for consent the first time someone signs in to an app."""
    accept = page.locator("#consent #idSIButton9")
    try:
        accept.wait_for(timeout=5_000)
    except PlaywrightTimeoutError:
        return
    accept.click()


@pytest.mark.e2e
@pytest.mark.emulator
@pytest.mark.django_db(transaction=True)
def test_in_chromium_a_select_tenant_link_signed_in_elsewhere_connects_nothing(
    emulator: EmulatorHandle, browser: Browser, live_server: Any, admin_a: Any, password: str
) -> None:
    assert urlsplit(live_server.url).hostname != urlsplit(emulator.http_url).hostname, "portal and Microsoft: two sites"
    integration = integration_create_automatic(tenant=admin_a.tenant, actor=admin_a, name="Contoso")
    attacker = browser.new_context().new_page()
    sign_in_to_portal(attacker, live_server.url, password)
    attacker.goto(f"{live_server.url}/administration/integrations/microsoft/{integration.pk}/")
    attacker.get_by_role("button", name="Select tenant").click()
    expect(attacker.locator("#login")).to_be_visible()
    link = attacker.url  # Microsoft's sign-in page, which the attacker sends to Contoso's administrator

    victim = browser.new_context().new_page()
    victim.goto(link)
    sign_in_at_microsoft(victim, CONTOSO_ADMIN)
    _accept_if_asked(victim)
    expect(victim.locator("body")).to_contain_text(REFUSED)
    expect(victim.locator("body")).to_contain_text(NOTHING_CHANGED)
    _shot(victim, "1-refused-in-another-browser")
    attacker.goto(f"{live_server.url}{_finish_url(state_of(link))}")

    integration.refresh_from_db()
    assert integration.directory_id == ""
    # In the browser that starts it, the same sign-in works: the binding cookie comes back across the two sites.
    attacker.goto(f"{live_server.url}/administration/integrations/microsoft/{integration.pk}/")
    attacker.get_by_role("button", name="Select tenant").click()
    sign_in_at_microsoft(attacker, CONTOSO_ADMIN)
    _accept_if_asked(attacker)
    expect(attacker.locator(".alert-success")).to_contain_text(f"Connected to the Microsoft directory {CONTOSO}")


@pytest.mark.e2e
@pytest.mark.emulator
@pytest.mark.django_db(transaction=True)
def test_in_chromium_a_onedrive_link_signed_in_elsewhere_connects_nobody(
    emulator: EmulatorHandle, browser: Browser, live_server: Any, admin_a: Any, password: str
) -> None:
    integration = manual_integration(admin_a, application_id=CUSTOM_APP, client_secret=CUSTOM_SECRET)
    feature_enable(feature=consented(feature_of(integration, "onedrive")))
    user = UserFactory(tenant=admin_a.tenant, email="mallory@alpha.example")
    attacker = browser.new_context().new_page()
    sign_in_to_portal(attacker, live_server.url, password, email=user.email)
    attacker.goto(f"{live_server.url}{reverse('onedrive:cloud_services')}")
    attacker.get_by_role("button", name="Sign in with Microsoft").click()
    expect(attacker.locator("#login")).to_be_visible()
    link = attacker.url

    victim = browser.new_context().new_page()
    victim.goto(link)
    sign_in_at_microsoft(victim, CONTOSO_USER)
    _accept_if_asked(victim)
    expect(victim.locator("body")).to_contain_text(REFUSED)
    _shot(victim, "2-onedrive-refused")
    attacker.goto(f"{live_server.url}{_finish_url(state_of(link))}")

    assert not MicrosoftCredential.objects.filter(user=user).exists()
