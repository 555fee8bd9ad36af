"""A real browser signs in with tenancy name, email and password; wrong passwords and the lockout are explained."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import throttle_windows_age
from tests.e2e.portal import password_sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def fill_sign_in(page: Page, base_url: str, password: str) -> None:
    password_sign_in(page, base_url, password, tenancy="alpha", email="admin@alpha.example")


def test_sign_in_reaches_the_dashboard(page: Page, live_server, admin_a, password):
    fill_sign_in(page, live_server.url, password)
    expect(page.get_by_role("heading", name="Welcome")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("External Systems")


def test_wrong_password_shows_a_clear_error(page: Page, live_server, admin_a):
    fill_sign_in(page, live_server.url, "not the password")
    expect(page.get_by_role("alert")).to_contain_text("The tenancy name, email or password is not right")


def test_lockout_engages_and_lifts(page: Page, live_server, admin_a, password):
    for _ in range(5):
        fill_sign_in(page, live_server.url, "not the password")
    fill_sign_in(page, live_server.url, password)
    expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-ins")
    throttle_windows_age(16 * 60)
    fill_sign_in(page, live_server.url, password)
    expect(page.get_by_role("heading", name="Welcome")).to_be_visible()
