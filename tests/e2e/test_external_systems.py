"""Chromium adds Exchange Online, gets the code pop-up, and signs in on the emulator's page in a second tab.

A real Celery worker does the Microsoft side; the pop-up follows it without a reload. Screenshots of each
pop-up state go to var/screenshots/ (not committed) for a person to look at.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.portal import sign_in_to_portal
from tests.external_systems.conftest import CONTOSO_ADMIN, CONTOSO_USER, DEVICE_APP, NO_PUBLIC_FLOWS_APP

pytestmark = [pytest.mark.e2e, pytest.mark.emulator, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
COUNTDOWN = re.compile(r"^1[45]:\d\d$")  # minutes:seconds left of Microsoft's 15
TIMEOUT = 20_000  # ms: the worker polls every second, the pop-up re-reads every two


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"external-systems-{name}.png"), full_page=True)


def _add_exchange_online(page: Page, base_url: str, *, title: str, client_id: str = DEVICE_APP) -> None:
    page.goto(f"{base_url}/settings/external-systems/")
    page.get_by_role("button", name="+ Add").click()
    page.get_by_role("link", name="Microsoft Exchange Online").click()
    expect(page.get_by_role("heading", name="First, in Microsoft Azure")).to_be_visible()
    page.get_by_label("Title").fill(title)
    page.get_by_label("Client ID").fill(client_id)
    page.get_by_label("Tenant ID").fill("contoso.onmicrosoft.com")
    page.get_by_role("button", name="OK").click()


def _code_in_pop_up(page: Page) -> str:
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Sign in to connect")).to_be_visible(timeout=TIMEOUT)
    return dialog.locator("#device-code").inner_text().strip()


def _approve_in_second_tab(page: Page, code: str, upn: str, password: str) -> None:
    with page.context.expect_page() as opened:
        page.get_by_role("dialog").get_by_role("link", name="/devicelogin").click()
    tab = opened.value
    tab.get_by_label("Code").fill(code)
    tab.get_by_role("button", name="Next").click()
    tab.get_by_label("Email, phone, or Skype").fill(upn)
    tab.get_by_label("Password").fill(password)
    tab.get_by_role("button", name="Sign in").click()
    tab.get_by_role("button", name="Continue").click()
    expect(tab.locator("#message")).to_contain_text("You have signed in")
    tab.close()


def test_add_exchange_online_and_approve_in_a_second_tab(
    page: Page, live_server: Any, m365: Any, celery_worker: Any, admin_a: Any, password: str
) -> None:
    sign_in_to_portal(page, live_server.url, password)
    page.goto(f"{live_server.url}/settings/external-systems/add/exchange_online/")
    _shot(page, "add-form")
    celery_worker.kill()  # so the pop-up is caught while Microsoft is being contacted
    _add_exchange_online(page, live_server.url, title="MS Exchange Online")
    expect(page.get_by_role("dialog")).to_contain_text("Contacting Microsoft")
    _shot(page, "popup-starting")
    celery_worker.start()

    code = _code_in_pop_up(page)
    assert code in [c["user_code"] for c in m365.control.pending_device_codes()]
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("button", name="Copy code")).to_be_visible()
    expect(dialog.get_by_role("link", name="/devicelogin")).to_have_attribute("target", "_blank")
    expect(dialog.locator("[data-countdown-until]")).to_have_text(COUNTDOWN)
    _shot(page, "popup-pending")

    _approve_in_second_tab(page, code, *CONTOSO_ADMIN)

    expect(dialog.get_by_role("heading", name="MS Exchange Online is connected")).to_be_visible(timeout=TIMEOUT)
    expect(dialog).to_contain_text(CONTOSO_ADMIN[0])
    _shot(page, "popup-connected")
    dialog.get_by_role("link", name="Done").click()
    expect(page).to_have_url(re.compile(r"/settings/external-systems/$"))
    expect(dialog).to_be_hidden()
    row = page.get_by_role("row", name="MS Exchange Online")
    expect(row).to_contain_text("Connected")
    expect(row).to_contain_text(CONTOSO_ADMIN[0])
    _shot(page, "list-connected")

    # Reconnecting with another mailbox asks before switching.
    row.get_by_role("button", name="Reconnect").click()
    code = _code_in_pop_up(page)
    _approve_in_second_tab(page, code, *CONTOSO_USER)
    expect(dialog.get_by_role("heading", name="Another mailbox signed in")).to_be_visible(timeout=TIMEOUT)
    _shot(page, "popup-confirm-switch")
    dialog.get_by_role("button", name=f"Switch to {CONTOSO_USER[0]}").click()
    expect(dialog).to_contain_text(f"Signed in as {CONTOSO_USER[0]}")


def test_an_expired_code_offers_start_again(
    page: Page, live_server: Any, m365: Any, celery_worker: Any, admin_a: Any, password: str
) -> None:
    sign_in_to_portal(page, live_server.url, password)
    _add_exchange_online(page, live_server.url, title="Expiring")
    code = _code_in_pop_up(page)

    m365.control.expire_device_code(code)

    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="The code expired")).to_be_visible(timeout=TIMEOUT)
    _shot(page, "popup-expired")
    dialog.get_by_role("button", name="Start again").click()
    new_code = _code_in_pop_up(page)
    assert new_code != code


def test_a_declined_sign_in_is_shown(
    page: Page, live_server: Any, m365: Any, celery_worker: Any, admin_a: Any, password: str
) -> None:
    sign_in_to_portal(page, live_server.url, password)
    _add_exchange_online(page, live_server.url, title="Declining")
    code = _code_in_pop_up(page)

    m365.control.decline_device_code(code, CONTOSO_ADMIN[0])

    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="The sign-in was declined")).to_be_visible(timeout=TIMEOUT)
    _shot(page, "popup-declined")


def test_cancel_stops_the_connection(
    page: Page, live_server: Any, m365: Any, celery_worker: Any, admin_a: Any, password: str
) -> None:
    sign_in_to_portal(page, live_server.url, password)
    _add_exchange_online(page, live_server.url, title="Cancelling")
    _code_in_pop_up(page)
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Email the code to the mailbox owner").click()
    dialog.get_by_label("Mailbox owner's email address").fill("printing@contoso.com")
    dialog.get_by_role("button", name="Send").click()
    expect(dialog).to_contain_text("on their way to printing@contoso.com")
    _shot(page, "popup-emailed")

    dialog.get_by_role("button", name="Cancel connection").click()

    expect(dialog.get_by_role("heading", name="Connection cancelled")).to_be_visible()
    _shot(page, "popup-cancelled")
    dialog.get_by_role("link", name="Close").click()
    row = page.get_by_role("row", name="Cancelling")
    expect(row).to_contain_text("Not connected")

    row.get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading", name="Delete Cancelling?")).to_be_visible()
    _shot(page, "delete")
    page.get_by_role("button", name="Delete Cancelling").click()
    expect(page.get_by_role("status")).to_contain_text("Cancelling is deleted.")


def test_public_client_flows_not_allowed_shows_the_fix(
    page: Page, live_server: Any, m365: Any, celery_worker: Any, admin_a: Any, password: str
) -> None:
    sign_in_to_portal(page, live_server.url, password)
    _add_exchange_online(page, live_server.url, title="No public flows", client_id=NO_PUBLIC_FLOWS_APP)

    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Microsoft refused the connection")).to_be_visible(timeout=TIMEOUT)
    expect(dialog).to_contain_text("Allow public client flows")
    expect(dialog).to_contain_text("AADSTS7000218")
    _shot(page, "popup-failed")

    # The fix: another app registration. A new Client ID is explained before saving, then connects again.
    dialog.get_by_role("link", name="Edit settings").click()
    page.get_by_label("Client ID").fill(DEVICE_APP)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("Changing the Client ID needs a new connection")
    _shot(page, "edit-new-client-id")
    page.get_by_role("button", name="Save and connect again").click()
    _code_in_pop_up(page)
