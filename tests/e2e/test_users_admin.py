"""Administration > Users in a real browser: add a colleague who accepts the invitation, edit, deactivate (their
open session ends), reactivate."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from playwright.sync_api import Browser, Page, expect

from accounts.models import User
from tests.e2e.portal import PAGE_LOAD_MS, sign_in_to_portal

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

COLLEAGUE_PASSWORD = "Printing all day 2026"


def test_add_edit_deactivate_and_reactivate_a_colleague(
    page: Page, browser: Browser, live_server: Any, admin_a: Any, password: str, settings: Any
) -> None:
    settings.PORTAL_BASE_URL = live_server.url
    sign_in_to_portal(page, live_server.url, password)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()

    # Add: the colleague gets an invitation through the tenant's outgoing mail.
    page.get_by_role("link", name="+ Add user").click()
    page.get_by_label("Email", exact=True).fill("sam@alpha.example")
    page.get_by_label("Display name").fill("Sam Carter")
    page.get_by_label("Aliases").fill("sam, scarter")
    page.get_by_label("Card").fill("CARD-42")
    page.get_by_label("PIN").fill("2468")
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_role("status")).to_contain_text("sam@alpha.example was added and emailed an invitation")
    sam = User.objects.get(email="sam@alpha.example")
    row = page.locator(f"#user-{sam.pk}")
    expect(row).to_contain_text("Invited: no password yet")
    expect(row).to_contain_text("scarter")
    expect(row).to_contain_text("CARD-42")

    # The colleague, in a browser of their own, chooses a password from the email and signs in.
    link = re.search(r"https?://\S+/invitation/\S+/", mail.outbox[-1].body).group(0)
    colleague = browser.new_context().new_page()
    colleague.goto(link)
    colleague.get_by_label("Password", exact=True).fill(COLLEAGUE_PASSWORD)
    colleague.get_by_label("Password again").fill(COLLEAGUE_PASSWORD)
    colleague.get_by_role("button", name="Save password").click()
    expect(colleague.get_by_role("status")).to_contain_text("Your password is set", timeout=PAGE_LOAD_MS)
    sign_in_to_portal(colleague, live_server.url, COLLEAGUE_PASSWORD, email="sam@alpha.example")
    page.reload()
    expect(row).to_contain_text("Active")

    # Edit.
    row.get_by_role("link", name="Sam Carter").click()
    page.get_by_label("Display name").fill("Samantha Carter")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("sam@alpha.example was saved")
    expect(row).to_contain_text("Samantha Carter")

    # Deactivate: Sam's open session ends at once.
    row.get_by_role("link", name="Samantha Carter").click()
    page.get_by_label("Reason").fill("Left for another team")
    page.get_by_role("button", name="Deactivate").click()
    expect(page.get_by_role("status")).to_contain_text("sam@alpha.example is deactivated")
    expect(row).to_contain_text("Deactivated")
    expect(row).to_contain_text("Left for another team")
    colleague.reload()
    expect(colleague.get_by_label("Tenancy name")).to_be_visible(timeout=PAGE_LOAD_MS)

    # Reactivate: Sam signs in again.
    row.get_by_role("link", name="Samantha Carter").click()
    page.get_by_role("button", name="Reactivate").click()
    expect(page.get_by_role("status")).to_contain_text("sam@alpha.example is active again")
    expect(row).to_contain_text("Active")
    sign_in_to_portal(colleague, live_server.url, COLLEAGUE_PASSWORD, email="sam@alpha.example")


def test_the_last_admin_cannot_deactivate_themselves(page: Page, live_server: Any, admin_a: Any, password: str) -> None:
    sign_in_to_portal(page, live_server.url, password)
    page.goto(f"{live_server.url}/administration/users/{admin_a.pk}/")
    page.get_by_role("button", name="Deactivate").click()
    expect(page.locator(".alert-error")).to_contain_text("last active admin")
    admin_a.refresh_from_db()
    assert admin_a.is_active


def test_import_the_sample_file_preview_then_apply(page: Page, live_server: Any, admin_a: Any, password: str) -> None:
    from pathlib import Path

    from users_admin.imports import import_work
    from users_admin.models import UserImport

    sample = Path(__file__).resolve().parents[2] / "docs" / "users-import-sample.csv"
    sign_in_to_portal(page, live_server.url, password)
    page.goto(f"{live_server.url}/administration/users/")
    page.get_by_role("link", name="Import").click()
    page.get_by_label("CSV or Excel (.xlsx) file").set_input_files(str(sample))
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_role("heading", name="users-import-sample.csv")).to_be_visible(timeout=PAGE_LOAD_MS)
    expect(page.locator("#import-status")).to_contain_text("Checking the file")

    user_import = UserImport.objects.get()
    import_work(import_id=user_import.pk)  # the worker's part, in this process
    expect(page.locator("#import-status")).to_contain_text("Ready to import", timeout=PAGE_LOAD_MS)  # polled
    expect(page.locator("#refused-rows")).to_contain_text("The role 'manager' does not exist")
    expect(page.locator("#preview-rows")).to_contain_text("megan.bowen@contoso.example")

    page.get_by_role("button", name="Import").click()
    import_work(import_id=user_import.pk)
    expect(page.locator("#import-status")).to_contain_text("Imported", timeout=PAGE_LOAD_MS)
    expect(page.get_by_role("link", name="Download the result file (CSV)")).to_be_visible()
    assert User.objects.filter(tenant=admin_a.tenant).count() == 6
