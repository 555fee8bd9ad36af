"""The navigation comes from ui.navigation.MENU: who sees which item, and which item is current."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import resolve, reverse

from ui.navigation import MENU, NavItem, NavSection, current_item, navigation_for

ADMIN_LINKS = [
    "Dashboard",
    "Jobs",
    "Users",
    "Integrations",
    "User Synchronization",
    "Universal Print",
    "Audit log",
    "External Systems",
    "Network",
    "Jobs",
    "Login with Microsoft",
    "Cloud Services",
    "Microsoft Account",
]


def links(html: str) -> list[tuple[str, bool]]:
    """(label, current) of every link in the sidebar, in order."""
    sidebar = html[html.index('<nav class="sidebar"') : html.index("</nav>")]
    found = re.findall(r'<li><a href="[^"]*"( aria-current="page")?>([^<]*)</a></li>', sidebar)
    return [(label, bool(current)) for current, label in found]


def links_with_urls(html: str) -> list[tuple[str, str]]:
    sidebar = html[html.index('<nav class="sidebar"') : html.index("</nav>")]
    return [(label, url) for url, label in re.findall(r'<li><a href="([^"]*)"[^>]*>([^<]*)</a></li>', sidebar)]


def current(html: str) -> list[str]:
    return [label for label, is_current in links(html) if is_current]


def test_an_admin_sees_every_section_and_a_user_only_theirs(admin_a_client: Client, user_a_client: Client) -> None:
    admin_page = admin_a_client.get(reverse("dashboard")).content.decode()
    assert [label for label, _ in links(admin_page)] == ADMIN_LINKS
    assert all(heading in admin_page for heading in ("Administration", "Settings", "My Settings"))
    user_page = user_a_client.get(reverse("dashboard")).content.decode()
    assert [label for label, _ in links(user_page)] == ["Dashboard", "Jobs", "Cloud Services", "Microsoft Account"]
    assert "Administration" not in user_page and ">Settings<" not in user_page


def test_user_synchronization_is_linked_to_admins_only(admin_a_client: Client, user_a_client: Client) -> None:
    assert ("User Synchronization", reverse("user_sync:page")) in [
        (label, url) for label, url in links_with_urls(admin_a_client.get(reverse("dashboard")).content.decode())
    ]
    assert "User Synchronization" not in user_a_client.get(reverse("dashboard")).content.decode()


@pytest.mark.parametrize(
    ("url_name", "args", "expected"),
    [
        ("dashboard", [], "Dashboard"),
        ("print_jobs:list", [], "Jobs"),
        ("integrations:list", [], "Integrations"),
        ("integrations:add_manual", [], "Integrations"),
        ("integrations:guide", [], "Integrations"),
        ("user_sync:page", [], "User Synchronization"),
        ("onedrive:cloud_services", [], "Cloud Services"),
        ("universal_print:page", [], "Universal Print"),
        ("audit_log", [], "Audit log"),
        ("external_systems:list", [], "External Systems"),
        ("external_systems:add", ["exchange_online"], "External Systems"),
        ("outgoing_mail:network", [], "Network"),
        ("users_admin:users", [], "Users"),
        ("users_admin:user_add", [], "Users"),
        ("users_admin:import_upload", [], "Users"),
    ],
)
def test_exactly_the_page_s_item_is_current(
    admin_a_client: Client, url_name: str, args: list[str], expected: str
) -> None:
    assert current(admin_a_client.get(reverse(url_name, args=args)).content.decode()) == [expected]


def test_the_jobs_settings_page_marks_the_settings_jobs_item_not_the_print_jobs_one(admin_a_client: Client) -> None:
    page = admin_a_client.get(reverse("mail_jobs:settings")).content.decode()
    assert [index for index, (_, is_current) in enumerate(links(page)) if is_current] == [9]


def test_a_view_named_by_an_item_wins_over_a_namespace_claimed_by_another() -> None:
    menu = (
        NavSection(
            "",
            (
                NavItem("Area", "integrations:list", ("integrations",)),
                NavItem("Mine", "integrations:cloud_services", ("integrations:cloud_services",)),
            ),
        ),
    )
    assert current_item(menu, resolve(reverse("integrations:cloud_services"))) is menu[0].items[1]
    assert current_item(menu, resolve(reverse("integrations:guide"))) is menu[0].items[0]
    assert current_item(menu, None) is None


def test_a_section_without_a_visible_item_is_left_out() -> None:
    groups = navigation_for(match=None, is_admin=False, menu=MENU)
    assert [group.heading for group in groups] == ["", "My Settings"]
    assert not any(link.current for group in groups for link in group.links)


def test_every_item_links_to_a_url_that_exists() -> None:
    for section in MENU:
        for item in section.items:
            assert reverse(item.url_name)
