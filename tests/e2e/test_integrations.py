"""Administration > Integrations in a real browser, against the emulator's Microsoft pages.

The portal runs on pytest-django's live server (a random port); this module starts its own emulator whose
seed registers that address as the redirect URI of the operator apps and of a custom app, exactly as an
operator registers the portal's public address in Entra ID (Entra matches redirect URIs exactly).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from credentials.models import MicrosoftCredential
from integrations.models import Integration
from integrations.services.features import feature_enable
from m365_emulator.seed import _read_with_base
from m365_emulator.testing import EmulatorHandle, portal_environment, start_emulator
from tests.e2e.portal import sign_in_to_portal
from tests.integrations.conftest import CONTOSO, CONTOSO_ADMIN, consented, feature_of, manual_integration

pytestmark = [pytest.mark.e2e, pytest.mark.emulator, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
CALLBACK_PATHS = ("/integrations/callback/", "/integrations/consent/callback/")
CUSTOM_APP = "7e57c0de-0000-4000-8000-00000000c0de"
CUSTOM_SECRET = "custom~Secret.Value.c0de"


def _seed_for(portal_url: str, target: Path) -> Path:
    seed = _read_with_base(ROOT / "m365_emulator" / "seeds" / "test.json")
    redirect_uris = [portal_url + path for path in CALLBACK_PATHS]
    operator_ids = {app["client_id"] for app in seed["operator_apps"].values()}
    for app in seed["apps"]:
        if app["client_id"] in operator_ids:
            app["redirect_uris"] = [*app.get("redirect_uris", []), *redirect_uris]
    seed["apps"].append(
        {
            "client_id": CUSTOM_APP,
            "display_name": "Contoso Roger (custom)",
            "home_directory": CONTOSO,
            "secrets": [{"value": CUSTOM_SECRET, "expires": "2099-12-31"}],
            "public_client": False,
            "allow_public_client_flows": False,
            "redirect_uris": redirect_uris,
            "sign_in_audience": "single",
            "permissions": {
                "https://graph.microsoft.com": {
                    "delegated": [
                        "User.Read",
                        "Files.ReadWrite",
                        "Printer.ReadWrite.All",
                        "PrinterShare.ReadBasic.All",
                    ],
                    "application": [
                        "User.Read.All",
                        "Group.Read.All",
                        "Printer.Read.All",
                        "PrintJob.Read.All",
                        "PrintJob.ReadWriteBasic.All",
                        "PrintTaskDefinition.ReadWrite.All",
                    ],
                }
            },
        }
    )
    target.write_text(json.dumps(seed))
    return target


@pytest.fixture(scope="module")
def portal_emulator(
    live_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[EmulatorHandle, Path]]:
    state_dir = tmp_path_factory.mktemp("integrations-emulator")
    seed = _seed_for(live_server.url, state_dir / "seed.json")
    with start_emulator(seed, state_dir) as handle:
        yield handle, seed


@pytest.fixture
def emulator(portal_emulator: tuple[EmulatorHandle, Path], live_server: Any, settings: Any) -> EmulatorHandle:
    handle, seed = portal_emulator
    handle.control.reset()
    env = portal_environment(handle, seed)
    settings.PORTAL_BASE_URL = live_server.url
    settings.MICROSOFT_AUTHORITY_HOST = env["MICROSOFT_AUTHORITY_HOST"]
    settings.MICROSOFT_GRAPH_URL = env["MICROSOFT_GRAPH_URL"]
    settings.MICROSOFT_CA_BUNDLE = env["MICROSOFT_CA_BUNDLE"]
    settings.MICROSOFT_APPS = {
        name: {
            **settings.MICROSOFT_APPS[name],
            "client_id": env.get(f"MICROSOFT_APP_{name}_CLIENT_ID", ""),
            "client_secret": env.get(f"MICROSOFT_APP_{name}_CLIENT_SECRET", ""),
        }
        for name in settings.MICROSOFT_APP_NAMES
    }
    return handle


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"integrations-{name}.png"), full_page=True)


def sign_in_at_microsoft(page: Page, account: tuple[str, str]) -> None:
    page.locator("#login").fill(account[0])
    page.locator("#passwd").fill(account[1])
    page.locator("#idSIButton9").click()


def feature_row(page: Page, feature_type: str) -> Any:
    return page.locator(f"#feature-{feature_type}")


def test_create_automatically_select_tenant_and_consent_per_feature(
    emulator: EmulatorHandle, page: Page, live_server: Any, admin_a: Any, password: str
) -> None:
    sign_in_to_portal(page, live_server.url, password)
    page.get_by_role("link", name="Integrations", exact=True).click()
    page.get_by_role("link", name="+ Add Integration").first.click()
    shot(page, "1-providers")
    page.locator("#main").get_by_role("link", name="Microsoft").click()  # the provider, not the menu's Microsoft pages
    shot(page, "2-modes")
    page.get_by_role("link", name="Create automatically").click()
    page.get_by_label("Name").fill("Contoso")
    shot(page, "3-automatic")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Contoso")).to_be_visible()
    expect(feature_row(page, "onedrive")).to_contain_text("Roger for OneDrive")
    shot(page, "4-select-tenant")

    page.get_by_role("button", name="Select tenant").click()
    sign_in_at_microsoft(page, CONTOSO_ADMIN)
    page.locator("#idSIButton9").click()  # Microsoft asks the admin to consent to the Login app's sign-in
    expect(page.locator(".alert-success")).to_contain_text(f"Connected to the Microsoft directory {CONTOSO}")
    expect(page.locator("#directory")).to_contain_text(CONTOSO)
    expect(page.locator("#directory")).to_contain_text(CONTOSO_ADMIN[0])

    feature_row(page, "user_sync").get_by_role("button", name="Enable").click()  # consent first, then enabled
    expect(page.locator("body")).to_contain_text("Roger Entra ID Connector")
    shot(page, "5-admin-consent")
    page.locator("#idSIButton9").click()
    expect(page.locator(".alert-success")).to_contain_text("Consent granted and User Synchronization enabled.")
    expect(feature_row(page, "user_sync")).to_contain_text("Enabled")
    expect(feature_row(page, "user_sync")).to_contain_text("Consent granted")

    feature_row(page, "onedrive").get_by_role("button", name="Grant consent").click()
    page.locator("#idSIButton9").click()
    expect(page.locator(".alert-success")).to_contain_text("Consent granted for OneDrive.")
    expect(feature_row(page, "onedrive")).to_contain_text("Disabled")
    shot(page, "6-features")

    integration = Integration.objects.get(name="Contoso")
    assert integration.directory_id == CONTOSO
    user_sync = feature_of(integration, "user_sync")
    credential = MicrosoftCredential.objects.get(owner_type="feature", owner_id=user_sync.pk)
    assert credential.kind == "app_only" and credential.directory_id == CONTOSO
    assert credential.client_id == user_sync.app_registration.client_id
    admin_consents = {(c["client_id"], c["tenant_id"]) for c in emulator.control.consents() if c["admin_consent"]}
    assert (user_sync.app_registration.client_id, CONTOSO) in admin_consents


def test_set_up_manually_with_a_custom_app(
    emulator: EmulatorHandle, page: Page, live_server: Any, admin_a: Any, password: str
) -> None:
    sign_in_to_portal(page, live_server.url, password)
    page.goto(f"{live_server.url}/administration/integrations/add/microsoft/")
    page.get_by_role("link", name="Set up manually").click()
    expect(page.locator(".alert-warning")).to_contain_text("For experienced Entra ID administrators")
    page.get_by_label("Name").fill("Contoso custom")
    page.get_by_label("Directory (Tenant) ID").fill("contoso.onmicrosoft.com")
    page.get_by_label("Application ID").fill(CUSTOM_APP)
    page.get_by_label("Application Secret", exact=True).fill("not-the-secret")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".field.has-error")).to_contain_text("The Application Secret is wrong")
    shot(page, "7-manual-wrong-secret")
    page.get_by_label("Application Secret", exact=True).fill(CUSTOM_SECRET)
    page.get_by_label("Application Secret expiration date").fill("2027-06-30")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".alert-success")).to_contain_text("Every feature is disabled")
    expect(page.locator("#directory")).to_contain_text(CONTOSO)
    expect(page.locator("#features")).not_to_contain_text("Enabled")

    feature_row(page, "onedrive").get_by_role("button", name="Grant consent").click()
    sign_in_at_microsoft(page, CONTOSO_ADMIN)
    expect(page.locator("body")).to_contain_text("Contoso Roger (custom)")
    page.locator("#idSIButton9").click()
    expect(page.locator(".alert-success")).to_contain_text("Consent granted for OneDrive.")
    # One custom app serves every feature, so its consent covers all of them.
    expect(feature_row(page, "user_sync")).to_contain_text("Consent granted")
    feature_row(page, "onedrive").get_by_role("button", name="Enable").click()
    expect(feature_row(page, "onedrive")).to_contain_text("Enabled")
    expect(feature_row(page, "onedrive")).to_contain_text("Lapses on 30 Jun 2027")
    shot(page, "8-manual-features")

    page.get_by_role("link", name="Redirect URIs, permissions and manifest").click()
    expect(page.locator("body")).to_contain_text(f"{live_server.url}/integrations/consent/callback/")
    expect(page.locator("#manifest-user_sync")).to_contain_text("df021288-bdef-4463-88db-98f22de89214")
    shot(page, "9-guide")


def test_second_feature_of_a_type_for_the_same_directory_shows_the_documented_error(
    emulator: EmulatorHandle, page: Page, live_server: Any, admin_a: Any, password: str
) -> None:
    main = manual_integration(admin_a, name="Contoso main")
    feature_enable(feature=consented(feature_of(main, "onedrive")))
    spare = manual_integration(admin_a, name="Contoso spare")
    consented(feature_of(spare, "onedrive"))

    sign_in_to_portal(page, live_server.url, password)
    page.goto(f"{live_server.url}/administration/integrations/microsoft/{spare.pk}/")
    feature_row(page, "onedrive").get_by_role("button", name="Enable").click()
    expect(page.locator(".alert-error")).to_contain_text(
        "OneDrive is already enabled for this Microsoft directory in the integration “Contoso main”"
    )
    expect(feature_row(page, "onedrive")).to_contain_text("Disabled")
    shot(page, "10-rule-error")


def test_declined_consent_is_explained(
    emulator: EmulatorHandle, page: Page, live_server: Any, admin_a: Any, password: str
) -> None:
    integration = manual_integration(admin_a, name="Contoso", application_id=CUSTOM_APP, client_secret=CUSTOM_SECRET)
    sign_in_to_portal(page, live_server.url, password)
    page.goto(f"{live_server.url}/administration/integrations/microsoft/{integration.pk}/")
    feature_row(page, "user_sync").get_by_role("button", name="Grant consent").click()
    sign_in_at_microsoft(page, CONTOSO_ADMIN)
    page.locator("#idBtn_Back").click()
    expect(page.locator(".alert-error")).to_contain_text("The consent request was declined")
    expect(feature_row(page, "user_sync")).to_contain_text("Needs consent")
    expect(feature_row(page, "user_sync").locator(".health-reason")).to_contain_text("choose Accept")
    shot(page, "11-declined")
