"""Steps every browser test shares."""

from __future__ import annotations

from playwright.sync_api import Page, expect

PAGE_LOAD_MS = 30_000  # the machine is shared with the worker and the emulator: allow a slow first page


def sign_in_to_portal(
    page: Page, base_url: str, password: str, *, tenancy: str = "alpha", email: str = "admin@alpha.example"
) -> None:
    """Sign in on the portal's own page and wait for the signed-in layout."""
    page.goto(f"{base_url}/accounts/sign-in/")
    page.get_by_label("Tenancy name").fill(tenancy)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible(timeout=PAGE_LOAD_MS)
