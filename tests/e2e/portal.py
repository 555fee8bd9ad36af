"""Steps every browser test shares."""

from __future__ import annotations

from playwright.sync_api import Page, expect

PAGE_LOAD_MS = 30_000  # the machine is shared with the worker and the emulator: allow a slow first page


def tenancy_chosen(page: Page, base_url: str, tenancy: str = "alpha") -> None:
    """The sign-in's first step: the tenancy name, which leads to that tenant's sign-in page."""
    page.goto(f"{base_url}/accounts/sign-in/")
    page.get_by_label("Tenancy name").fill(tenancy)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name=f"Sign in to {tenancy}")).to_be_visible(timeout=PAGE_LOAD_MS)


def password_sign_in(page: Page, base_url: str, password: str, *, tenancy: str, email: str) -> None:
    """Both steps of the password sign-in, without waiting for what follows."""
    tenancy_chosen(page, base_url, tenancy)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def sign_in_to_portal(
    page: Page, base_url: str, password: str, *, tenancy: str = "alpha", email: str = "admin@alpha.example"
) -> None:
    """Sign in on the portal's own pages and wait for the signed-in layout."""
    password_sign_in(page, base_url, password, tenancy=tenancy, email=email)
    expect(page.get_by_role("navigation", name="Main")).to_be_visible(timeout=PAGE_LOAD_MS)
