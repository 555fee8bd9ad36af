"""Helpers for driving Microsoft flows against the emulator (the `m365` fixture lives in tests/conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
import requests

from microsoft import identity
from microsoft.config import AppCredentials
from tests.conftest import wait_until

CONTOSO = "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
FABRIKAM = "9e8d7c6b-5a49-4382-a716-f5e4d3c2b1a0"
NORTHWIND = "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"
CONTOSO_ADMIN = ("admin@contoso.onmicrosoft.com", "Contoso-Admin-1")
CONTOSO_USER = ("adele.vance@contoso.onmicrosoft.com", "Contoso-User-1")
FABRIKAM_USER = ("megan.bowen@fabrikam.onmicrosoft.com", "Fabrikam-User-1")
NORTHWIND_ADMIN = ("admin@northwind.onmicrosoft.com", "Northwind-Admin-1")

DEVICE_APP = AppCredentials(client_id="7e570001-0000-4000-8000-000000000001", client_secret=None)
NO_PUBLIC_FLOWS_APP = AppCredentials(client_id="7e570006-0000-4000-8000-000000000006", client_secret=None)
WEB_APP = AppCredentials(client_id="7e570003-0000-4000-8000-000000000003", client_secret="web~Secret.Value.0003")
EXPIRED_SECRET_APP = AppCredentials(
    client_id="7e570004-0000-4000-8000-000000000004", client_secret="old~Secret.Value.0004"
)
SINGLE_TENANT_APP = AppCredentials(
    client_id="7e570005-0000-4000-8000-000000000005", client_secret="single~Secret.Value.0005"
)
REDIRECT_URI = "http://127.0.0.1/callback"
SMTP_SEND = "https://outlook.office.com/SMTP.Send"
USER_READ = "https://graph.microsoft.com/User.Read"
GRAPH_DEFAULT = "https://graph.microsoft.com/.default"


def poll_device_flow_until(
    flow: dict[str, Any],
    states: set[identity.DeviceFlowState],
    *,
    app: AppCredentials = DEVICE_APP,
    tenant: str = CONTOSO,
) -> identity.DeviceFlowPoll:
    """Poll as the Celery poller would: at `next_poll_at`, until one of `states` (with a deadline)."""
    outcome: dict[str, identity.DeviceFlowPoll] = {}
    next_poll_at = datetime.now(UTC)

    def polled() -> bool:
        nonlocal flow, next_poll_at
        if datetime.now(UTC) < next_poll_at:
            return False
        poll = identity.device_flow_poll(app=app, tenant=tenant, flow=flow)
        flow, next_poll_at = poll.flow, poll.next_poll_at or datetime.now(UTC)
        outcome["poll"] = poll
        return poll.state in states

    wait_until(polled, message=f"device flow state in {states}")
    return outcome["poll"]


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": values.get("action", ""), "id": values.get("id", ""), "fields": {}})
        elif tag == "input" and self.forms and values.get("type") == "hidden":
            self.forms[-1]["fields"][values.get("name", "")] = values.get("value", "")


def forms_of(page: str) -> list[dict[str, Any]]:
    parser = _Forms()
    parser.feed(page)
    return parser.forms


class Browser:
    """Drives the emulator's sign-in and consent pages the way a person would, with a requests session."""

    def __init__(self) -> None:
        self.session = requests.Session()
        self.session.trust_env = False

    def sign_in(self, auth_uri: str, upn: str, password: str, *, accept: bool = True) -> dict[str, str]:
        """Open `auth_uri`, sign in, answer any consent page; return the form_post callback's fields."""
        response = self.session.get(auth_uri, timeout=10)
        page_url = response.url
        form = self._form(response.text, "sign-in")
        response = self.session.post(
            urljoin(page_url, form["action"]),
            data={**form["fields"], "login": upn, "passwd": password},
            timeout=10,
        )
        return self._after_sign_in(response, page_url, accept=accept)

    def _after_sign_in(self, response: requests.Response, page_url: str, *, accept: bool) -> dict[str, str]:
        consent = next((f for f in forms_of(response.text) if f["id"] == "consent"), None)
        if consent is not None:
            decision = "accept" if accept else "cancel"
            response = self.session.post(
                urljoin(page_url, consent["action"]), data={**consent["fields"], "decision": decision}, timeout=10
            )
        callback = next((f for f in forms_of(response.text) if f["action"].startswith("http")), None)
        if callback is None:
            raise AssertionError(f"no callback form on the page: {response.status_code} {response.text[:500]}")
        return dict(callback["fields"])

    def admin_consent(self, consent_url: str, upn: str, password: str, *, accept: bool = True) -> dict[str, str]:
        """Open an admin consent URL, sign in, decide; return the query Microsoft redirects back with."""
        response = self.session.get(consent_url, timeout=10)
        page_url = response.url
        form = self._form(response.text, "sign-in")
        response = self.session.post(
            urljoin(page_url, form["action"]), data={**form["fields"], "login": upn, "passwd": password}, timeout=10
        )
        decision = next((f for f in forms_of(response.text) if f["action"].endswith("/Consent/Set")), None)
        if decision is None:
            raise AssertionError(f"no consent decision on the page: {response.text[:500]}")
        response = self.session.post(
            urljoin(page_url, decision["action"]),
            data={**decision["fields"], "decision": "accept" if accept else "cancel"},
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code in (302, 303), response.text[:500]
        location = response.headers["location"]
        assert location.startswith(REDIRECT_URI), location
        return dict(parse_qsl(urlsplit(location).query))

    def _form(self, page: str, form_id: str) -> dict[str, Any]:
        form = next((f for f in forms_of(page) if f["id"] == form_id), None)
        if form is None:
            raise AssertionError(f"no form {form_id!r} on the page: {page[:500]}")
        return form


@pytest.fixture
def person() -> Browser:
    """Someone at a browser (not Playwright's `browser`: these pages need no JavaScript)."""
    return Browser()
