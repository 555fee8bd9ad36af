"""Settings > Network in Chromium: choose the connected Exchange Online system, send a test email, find it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from outgoing_mail.models import OutgoingMailSettings
from tests.e2e.portal import sign_in_to_portal
from tests.outgoing_mail.conftest import CONTOSO, MAILBOX, connect_exchange_system

pytestmark = [pytest.mark.e2e, pytest.mark.emulator, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
PAGE_LOAD = 15_000  # ms: the machine is shared, a page with a live server and a worker can be slow


def send_test_email(page: Page, recipient: str) -> None:
    page.get_by_label("Send a test email to").fill(recipient)
    page.get_by_role("button", name="Send test email").click()


def test_choose_the_connected_system_and_send_a_test_email(
    page: Page, live_server: Any, m365: Any, celery_worker: Any, admin_a: Any, password: str
) -> None:
    system = connect_exchange_system(tenant=admin_a.tenant, actor=admin_a, m365=m365, title="Contoso printing")
    sign_in_to_portal(page, live_server.url, password)
    page.get_by_role("link", name="Network").click()

    page.get_by_label("Microsoft Exchange Online (a connected external system)").check()
    page.get_by_label("Exchange Online system").select_option(label=f"Contoso printing ({MAILBOX})")
    page.get_by_label("From display name").fill("Alpha Print")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("status").first).to_contain_text("The outgoing SMTP server is saved", timeout=PAGE_LOAD)
    assert OutgoingMailSettings.objects.get(tenant=admin_a.tenant).mail_server.exchange_system == system

    send_test_email(page, "recipient@example.net")
    expect(page.locator("#test-email-status")).to_contain_text("Test email sent", timeout=30_000)
    expect(page.locator("#test-email-status")).to_contain_text(f"Exchange Online as {MAILBOX}")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "network-sent.png"), full_page=True)

    [received] = m365.control.smtp_messages(to="recipient@example.net")
    assert (received["mailbox"], received["mechanism"]) == (MAILBOX, "XOAUTH2")
    assert received["from"] == f"Alpha Print <{MAILBOX}>"

    # The directory turns SMTP AUTH off: the next test email explains how to turn it back on.
    m365.control.set_smtp_auth(CONTOSO, False)
    send_test_email(page, "recipient@example.net")
    status = page.locator("#test-email-status")
    expect(status).to_contain_text("SMTP AUTH is disabled for your Microsoft tenant", timeout=30_000)
    expect(status).to_contain_text("Manage email apps")
    expect(status).to_contain_text("535 5.7.139")
    page.screenshot(path=str(SCREENSHOTS / "network-smtp-auth-disabled.png"), full_page=True)
    assert len(m365.control.smtp_messages(to="recipient@example.net")) == 1


def test_a_custom_server_form_explains_what_is_missing(
    page: Page, live_server: Any, admin_a: Any, password: str
) -> None:
    sign_in_to_portal(page, live_server.url, password)
    page.goto(f"{live_server.url}/settings/network/")
    expect(page.get_by_label("Host")).to_be_hidden()  # only the chosen server's fields show

    page.get_by_label("Custom SMTP server").check()
    expect(page.get_by_label("Host")).to_be_visible()
    page.get_by_label("Host").fill("https://smtp.alpha.example")
    page.get_by_label("User name").fill("relay@alpha.example")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_text("Enter the host name only")).to_be_visible(timeout=PAGE_LOAD)
    expect(page.get_by_text("Enter the password of this user name.")).to_be_visible()
    expect(page.get_by_text("Enter the address the mail is sent from.")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "network-custom-errors.png"), full_page=True)
    assert not OutgoingMailSettings.objects.exists()
