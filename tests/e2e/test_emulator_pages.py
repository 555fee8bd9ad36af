"""The emulator's Microsoft pages in a real browser: enter a device code, sign in, approve."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from microsoft import identity
from microsoft.config import AppCredentials
from tests.conftest import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.emulator]
CONTOSO = "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
EXCHANGE_APP = AppCredentials("d3e4f5a6-1111-4b2c-8d3e-00000000e0e1", None)
SCOPES = ["https://outlook.office.com/SMTP.Send", "https://outlook.office.com/IMAP.AccessAsUser.All"]


def test_a_person_signs_in_and_approves_a_device_code_in_chromium(m365: Any, page: Page) -> None:
    started = identity.device_flow_start(app=EXCHANGE_APP, tenant=CONTOSO, scopes=SCOPES)
    assert started.verification_uri.startswith(m365.http_url)

    page.goto(started.verification_uri)
    page.get_by_label("Code").fill(started.user_code)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Email, phone, or Skype").fill("printing@contoso.onmicrosoft.com")
    page.get_by_label("Password").fill("Contoso-Mailbox-1")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading")).to_contain_text("Contoso Exchange Online")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("body")).to_contain_text("You have signed in")

    flow = started.flow

    def approved() -> identity.TokenGrant | None:
        nonlocal flow
        poll = identity.device_flow_poll(app=EXCHANGE_APP, tenant=CONTOSO, flow=flow)
        flow = poll.flow
        return poll.grant if poll.state == identity.DeviceFlowState.APPROVED else None

    grant = wait_until(approved, timeout=30, interval=1.0, message="the device code to be approved")
    assert grant.account is not None and grant.account.username == "printing@contoso.onmicrosoft.com"
