"""The portal's navigation, defined once: sections, their items, who sees each, and when an item is current.

`base.html` renders it with `{% navigation %}`. An item is current when the page's view name is one of its
`current_for` names; failing that, when the page's URL namespace is. So "integrations" covers every page of
the Integrations pages; Cloud Services (the onedrive app's page) also claims the integrations views of the
OneDrive sign-in by name.

To add a page: add a `NavItem` to its section below (label, URL name, `admins_only`, and the view names or
namespaces of the pages under it).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import ResolverMatch

from ui.reversing import reverse_cached, url_root


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    current_for: tuple[str, ...] = ()  # view names ("app:view") or namespaces ("app"); empty: url_name alone
    admins_only: bool = False

    @property
    def current_names(self) -> tuple[str, ...]:
        return self.current_for or (self.url_name,)


@dataclass(frozen=True)
class NavSection:
    heading: str  # blank: the top of the menu, without a heading
    items: tuple[NavItem, ...]


MENU: tuple[NavSection, ...] = (
    NavSection(
        "",
        (
            NavItem("Dashboard", "dashboard"),
            NavItem("Jobs", "print_jobs:list", ("print_jobs", "onedrive:browse")),
        ),
    ),
    NavSection(
        "Administration",
        (
            NavItem("Users", "users_admin:users", ("users_admin",), admins_only=True),
            NavItem("Integrations", "integrations:list", ("integrations",), admins_only=True),
            NavItem("User Synchronization", "user_sync:page", ("user_sync",), admins_only=True),
            NavItem("Universal Print", "universal_print:page", ("universal_print",), admins_only=True),
            NavItem("Audit log", "audit_log", admins_only=True),
        ),
    ),
    NavSection(
        "Settings",
        (
            NavItem("External Systems", "external_systems:list", ("external_systems",), admins_only=True),
            NavItem("Network", "outgoing_mail:network", ("outgoing_mail",), admins_only=True),
            NavItem("Jobs", "mail_jobs:settings", ("mail_jobs",), admins_only=True),
            NavItem("Login with Microsoft", "microsoft_login:settings", admins_only=True),
        ),
    ),
    NavSection(
        "My Settings",
        (
            NavItem(
                "Cloud Services",
                "onedrive:cloud_services",
                (
                    "onedrive:cloud_services",
                    "onedrive:scan_folder",
                    "integrations:cloud_services",
                    "integrations:cloud_services_connect",
                    "integrations:cloud_services_dismiss",
                ),
            ),
            NavItem(
                "Microsoft Account", "microsoft_login:account", ("microsoft_login:account", "microsoft_login:link")
            ),
        ),
    ),
)


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str
    current: bool


@dataclass(frozen=True)
class NavGroup:
    heading: str
    links: tuple[NavLink, ...]


def current_item(menu: tuple[NavSection, ...], match: ResolverMatch | None) -> NavItem | None:
    """The item the page belongs to: the one naming its view, else the one naming its namespace."""
    if match is None:
        return None
    items = [item for section in menu for item in section.items]
    by_view = (item for item in items if match.view_name in item.current_names)
    by_namespace = (item for item in items if match.namespace and match.namespace in item.current_names)
    return next(by_view, None) or next(by_namespace, None)


def navigation_for(
    *, match: ResolverMatch | None, is_admin: bool, menu: tuple[NavSection, ...] = MENU
) -> list[NavGroup]:
    """The sections this person sees (a section without a visible item is left out), with the current link."""
    current = current_item(menu, match)
    root = url_root()
    groups = []
    for section in menu:
        links = tuple(
            NavLink(item.label, reverse_cached(item.url_name, root=root), item is current)
            for item in section.items
            if is_admin or not item.admins_only
        )
        if links:
            groups.append(NavGroup(section.heading, links))
    return groups
