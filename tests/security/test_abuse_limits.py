"""Abuse limits: mail the portal sends on request is limited per address, per tenant and per client; the operator's
Django admin sign-in has the tenant sign-in's lockout; reset links never come from the request's Host.

The attacker: anyone on the internet who can reach the password reset and sign-in pages, and a tenant admin who
could make the portal mail anybody through the tenant's (or the operator's) server.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import User
from audit.models import AuditEvent
from external_systems.models import DeviceCodeConnection
from outgoing_mail.choices import OutboundPurpose
from outgoing_mail.models import OutboundEmail
from tests.conftest import throttle_windows_age
from tests.external_systems.conftest import make_system, start
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
DIMENSIONS = ["address", "tenant", "client"]


def limit(settings: Any, scope: str, dimension: str, rate: str = "2/h") -> None:
    settings.THROTTLE_RATES = {**getattr(settings, "THROTTLE_RATES", {}), f"{scope}.{dimension}": rate}


# Three requests that share only one dimension: two fill its limit of 2 an hour, the third is refused.
SHARED = {
    "address": [("alpha", "victim@example.net", "10.0.0.1"), ("bravo", "victim@example.net", "10.0.0.2")],
    "tenant": [("alpha", "one@example.net", "10.0.0.1"), ("alpha", "two@example.net", "10.0.0.2")],
    "client": [("alpha", "one@example.net", "203.0.113.9"), ("bravo", "two@example.net", "203.0.113.9")],
}
THIRD = {
    "address": ("alpha", "victim@example.net", "10.0.0.3"),
    "tenant": ("alpha", "three@example.net", "10.0.0.3"),
    "client": ("alpha", "three@example.net", "203.0.113.9"),
}
# The same request as THIRD but for the shared value: it still goes through.
OTHER = {
    "address": ("alpha", "someone.else@example.net", "10.0.0.3"),
    "tenant": ("bravo", "three@example.net", "10.0.0.3"),
    "client": ("alpha", "three@example.net", "198.51.100.7"),
}


# --- password reset --------------------------------------------------------------------------------------------


@pytest.fixture
def reset_accounts(tenant_a, tenant_b):  # type: ignore[no-untyped-def]
    """Accounts for every address the scenarios use, in both tenancies, so each allowed request mails a link."""
    for tenant in (tenant_a, tenant_b):
        for email in ("victim", "one", "two", "three", "someone.else"):
            User.objects.create_user(tenant=tenant, email=f"{email}@example.net", password=PASSWORD)


def reset(client: Client, tenancy: str, email: str, address: str, **headers: str) -> Any:
    return client.post(
        reverse("accounts:password_reset"), {"tenancy_name": tenancy, "email": email}, REMOTE_ADDR=address, **headers
    )


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_password_reset_is_limited_and_sends_nothing_when_limited(client, settings, reset_accounts, dimension):
    limit(settings, "password_reset", dimension)
    for tenancy, email, address in SHARED[dimension]:
        assert reset(client, tenancy, email, address).status_code == 302
    assert len(mail.outbox) == 2

    refused = reset(client, *THIRD[dimension])

    assert refused.status_code == 429 and int(refused["Retry-After"]) > 3500
    page = refused.content.decode()
    assert "Too many password reset requests." in page and "Nothing was sent. Try again in 60 minutes." in page
    assert len(mail.outbox) == 2
    assert reset(client, *OTHER[dimension]).status_code == 302 and len(mail.outbox) == 3


def test_password_reset_limit_counts_unknown_accounts_too_and_lifts_after_its_window(client, settings, admin_a):
    limit(settings, "password_reset", "address")
    for _ in range(2):
        assert reset(client, "alpha", "nobody@example.net", "10.0.0.1").status_code == 302
    assert reset(client, "alpha", "nobody@example.net", "10.0.0.1").status_code == 429  # same answer, known or not

    throttle_windows_age(30 * 60)
    assert "Try again in 30 minutes." in reset(client, "alpha", "nobody@example.net", "10.0.0.1").content.decode()
    throttle_windows_age(30 * 60 + 1)
    assert reset(client, "alpha", "nobody@example.net", "10.0.0.1").status_code == 302


def test_ipv6_clients_are_counted_by_their_64_network(client, settings, reset_accounts):
    limit(settings, "password_reset", "client")
    reset(client, "alpha", "one@example.net", "2001:db8:5:6::1")
    reset(client, "alpha", "two@example.net", "2001:db8:5:6::2")
    assert reset(client, "alpha", "three@example.net", "2001:db8:5:6:ffff::3").status_code == 429
    assert reset(client, "alpha", "three@example.net", "2001:db8:5:7::1").status_code == 302


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_HOST": "evil.example"},
        {"HTTP_HOST": "evil.example:8443", "HTTP_X_FORWARDED_HOST": "evil.example", "HTTP_X_FORWARDED_PROTO": "http"},
        {"HTTP_HOST": "127.0.0.1"},  # an allowed name that is not the portal's public address
    ],
)
def test_the_reset_link_uses_the_portal_base_url_whatever_the_host_header(client, settings, admin_a, headers):
    settings.ALLOWED_HOSTS = ["*"]  # a wildcard, or any second name the portal answers to
    settings.PORTAL_BASE_URL = "https://portal.roger.example"

    assert reset(client, "alpha", "admin@alpha.example", "10.0.0.1", **headers).status_code == 302

    body = mail.outbox[0].body
    links = [line.strip() for line in body.splitlines() if "/accounts/reset/" in line]
    assert len(links) == 1 and links[0].startswith("https://portal.roger.example/accounts/reset/")
    assert "evil" not in body and "127.0.0.1" not in body


# --- the test email (Settings > Network) -----------------------------------------------------------------------


def queued_test_emails() -> int:
    return OutboundEmail.objects.filter(purpose=OutboundPurpose.TEST).count()


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_the_test_email_is_limited_and_queues_nothing_when_limited(dimension, settings, admin_a_client, admin_b_client):
    limit(settings, "test_email", dimension)
    clients = {"alpha": admin_a_client, "bravo": admin_b_client}

    def send(tenancy: str, recipient: str, address: str, **headers: str) -> Any:
        return clients[tenancy].post(
            reverse("outgoing_mail:test_email"), {"recipient": recipient}, REMOTE_ADDR=address, **headers
        )

    for request in SHARED[dimension]:
        assert "Sending the test email" in send(*request, **HTMX).content.decode()
    assert queued_test_emails() == 2

    fragment = send(*THIRD[dimension], **HTMX)
    page = send(*THIRD[dimension])

    assert fragment.status_code == 200  # htmx swaps it in where the test's status goes
    assert 'id="test-email-status"' in fragment.content.decode()
    for text in (fragment.content.decode(), page.content.decode()):
        assert "Too many test emails." in text and "Nothing was sent. Try again in 60 minutes." in text
    assert page.status_code == 429 and "Send test email" in page.content.decode()
    assert queued_test_emails() == 2
    assert AuditEvent.objects.filter(action="outgoing_mail.test_email_requested").count() == 2
    assert "Sending the test email" in send(*OTHER[dimension], **HTMX).content.decode()


# --- the device code email (External Systems pop-up) -----------------------------------------------------------


@pytest.fixture
def pending_connections(admin_a, admin_b) -> dict[str, DeviceCodeConnection]:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from django.utils import timezone

    connections = {}
    for tenancy, admin in (("alpha", admin_a), ("bravo", admin_b)):
        connection = start(make_system(admin.tenant, admin), admin)
        DeviceCodeConnection.objects.filter(pk=connection.pk).update(
            status="pending",
            user_code="ABCD2345X",
            verification_uri="http://127.0.0.1:9/devicelogin",
            expires_at=timezone.now() + timedelta(minutes=15),
        )
        connections[tenancy] = connection
    return connections


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_the_device_code_email_is_limited_and_sends_nothing_when_limited(
    dimension,
    settings,
    admin_a_client,
    admin_b_client,
    pending_connections,
):
    limit(settings, "device_code_email", dimension)
    clients = {"alpha": admin_a_client, "bravo": admin_b_client}

    def send(tenancy: str, recipient: str, address: str, **headers: str) -> Any:
        url = reverse("external_systems:connection_email", args=[pending_connections[tenancy].pk])
        return clients[tenancy].post(url, {"recipient": recipient}, REMOTE_ADDR=address, **headers)

    for request in SHARED[dimension]:
        assert "on their way to" in send(*request, **HTMX).content.decode()
    assert len(mail.outbox) == 2  # queued with the request (pytest-django's mail backend keeps them here)

    connection = pending_connections[THIRD[dimension][0]]
    connection.refresh_from_db()
    emailed_to = connection.code_emailed_to
    popup = send(*THIRD[dimension], **HTMX)
    page = send(*THIRD[dimension])

    assert popup.status_code == 200 and page.status_code == 429
    for text in (popup.content.decode(), page.content.decode()):
        assert "Too many code emails." in text and "Nothing was sent. Try again in 60 minutes." in text
        assert "on their way" not in text
    assert len(mail.outbox) == 2
    assert AuditEvent.objects.filter(action="external_system.code_emailed").count() == 2
    connection.refresh_from_db()
    assert connection.code_emailed_to == emailed_to
    assert "on their way to" in send(*OTHER[dimension], **HTMX).content.decode()


# --- the operator's Django admin sign-in -----------------------------------------------------------------------


@pytest.fixture
def operator(db):  # type: ignore[no-untyped-def]
    return User.objects.create_superuser("operator", "operator@roger.example", PASSWORD)


def operator_sign_in(client: Client, password: str, address: str = "10.0.0.1") -> Any:
    return client.post(
        "/operator/login/?next=/operator/",
        {"username": "operator", "password": password, "next": "/operator/"},
        REMOTE_ADDR=address,
    )


def test_the_operator_sign_in_locks_after_five_failures_and_lifts_after_fifteen_minutes(client, operator):
    for _ in range(5):
        assert "Please enter the correct username and password" in operator_sign_in(client, "wrong").content.decode()

    locked = operator_sign_in(client, PASSWORD, address="198.51.100.7")  # another client: the account is locked

    assert locked.status_code == 200
    assert "Too many failed sign-ins" in locked.content.decode()
    assert "try again in 15 minutes" in locked.content.decode()
    assert "_auth_user_id" not in client.session

    throttle_windows_age(16 * 60)
    assert operator_sign_in(client, PASSWORD).status_code == 302
    assert client.get("/operator/").status_code == 200


def test_one_client_guessing_tenant_accounts_is_locked_out_of_the_operator_sign_in_too(
    client, operator, admin_a, settings
):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 3
    for n in range(3):
        client.post(
            reverse("accounts:login"),
            {"tenancy_name": "alpha", "email": f"guess{n}@alpha.example", "password": "wrong"},
            REMOTE_ADDR="203.0.113.9",
        )

    assert "Too many failed sign-ins" in operator_sign_in(client, PASSWORD, address="203.0.113.9").content.decode()
    assert operator_sign_in(client, PASSWORD, address="198.51.100.7").status_code == 302


def test_good_passwords_do_not_count_against_the_client(client, admin_a, settings):
    """Attempts count before the password is checked; a good one is taken back, or an office signing in every
    morning through one address would lock itself out."""
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 3
    for _ in range(5):
        response = client.post(
            reverse("accounts:login"),
            {"tenancy_name": "alpha", "email": "admin@alpha.example", "password": PASSWORD},
            REMOTE_ADDR="203.0.113.9",
        )
        assert response.status_code == 302
        client.post(reverse("accounts:logout"))
