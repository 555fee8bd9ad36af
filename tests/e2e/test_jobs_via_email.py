"""Settings > Jobs in Chromium: read the connected Exchange Online mailbox, test it, mail documents, see the jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from mail_jobs.models import MailJobSource
from tests.e2e.portal import sign_in_to_portal
from tests.factories import UserFactory
from tests.mail_jobs.conftest import MAILBOX, SENDER, connect_exchange_system
from tests.mail_jobs.helpers import PDF, PNG, mail_with_attachments

pytestmark = [pytest.mark.e2e, pytest.mark.emulator, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def test_mail_to_the_connected_mailbox_becomes_print_jobs(
    page: Page, live_server: Any, m365: Any, celery_worker: Any, admin_a: Any, password: str
) -> None:
    connect_exchange_system(tenant=admin_a.tenant, actor=admin_a, m365=m365)
    UserFactory(tenant=admin_a.tenant, email=SENDER, full_name="Pat Sender")
    sign_in_to_portal(page, live_server.url, password)
    page.get_by_role("link", name="Jobs", exact=True).last.click()
    expect(page.get_by_role("heading", name="Jobs settings")).to_be_visible()

    page.get_by_label("Turn mail into print jobs").check()
    page.get_by_label("IMAP").check()
    page.get_by_label("Microsoft Exchange Online (a connected external system)").check()
    page.get_by_label("Exchange Online system").select_option(label=f"Contoso mail ({MAILBOX})")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Jobs via Email settings saved.")).to_be_visible()
    assert MailJobSource.objects.get(tenant=admin_a.tenant).enabled

    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#test-status")).to_contain_text("The connection works", timeout=30_000)
    expect(page.locator("#test-status")).to_contain_text(f"Signed in as {MAILBOX} with OAuth (XOAUTH2)")

    m365.control.put_mail(
        MAILBOX,
        mail_with_attachments(
            sender=SENDER,
            to=MAILBOX,
            subject="Quarterly report",
            attachments=[("report.pdf", "application/pdf", PDF), ("chart.png", "image/png", PNG)],
        ),
    )
    m365.control.put_mail(
        MAILBOX,
        mail_with_attachments(
            sender=SENDER, to=MAILBOX, subject="Tools", attachments=[("setup.exe", "application/x-msdownload", b"MZ")]
        ),
    )
    page.get_by_role("button", name="Check for mail now").click()
    expect(page.get_by_text("Checking the mailbox now")).to_be_visible()

    def jobs_listed() -> bool:
        page.goto(f"{live_server.url}/jobs/")
        return "report.pdf" in page.content() and "chart.png" in page.content()

    from tests.conftest import wait_until

    wait_until(jobs_listed, timeout=30, interval=0.5, message="the print jobs on the Jobs page")
    expect(page.get_by_role("main")).to_contain_text(SENDER)

    page.goto(f"{live_server.url}/settings/jobs/")
    expect(page.locator("#mail-stats")).to_contain_text("Print jobs created2")
    expect(page.get_by_role("table")).to_contain_text("setup.exe")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "jobs_via_email.png"), full_page=True)
