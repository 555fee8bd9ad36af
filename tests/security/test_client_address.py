"""The client address comes from a configured number of trusted proxies: behind a load balancer the per-client
limits count each client (not the balancer, which would lock out everybody at once), and a client cannot pick its
own address with a forged X-Forwarded-For."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory
from django.urls import reverse

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db
BALANCER = "10.0.0.254"


def sign_in(client: Any, password: str, *, remote: str, forwarded: str | None = None, email: str = "") -> Any:
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return client.post(
        reverse("accounts:login"),
        {"tenancy_name": "alpha", "email": email or "admin@alpha.example", "password": password},
        REMOTE_ADDR=remote,
        **headers,
    )


def signed_in_from() -> str | None:
    return AuditEvent.objects.filter(action="user.signed_in").latest("occurred_at").ip_address


def test_without_proxies_the_connection_is_the_client_and_forwarded_headers_are_ignored(
    client, admin_a, password, settings
):
    assert settings.TRUSTED_PROXY_COUNT == 0  # the default
    sign_in(client, password, remote="203.0.113.9", forwarded="198.51.100.7")
    assert signed_in_from() == "203.0.113.9"
    forged_https = RequestFactory().get("/", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="203.0.113.9")
    assert not forged_https.is_secure()


def test_without_proxies_a_forged_forwarded_for_does_not_dodge_the_per_client_cap(client, admin_a, password, settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 3
    for n in range(3):
        sign_in(client, "wrong", remote="203.0.113.9", forwarded=f"192.0.2.{n}", email=f"guess{n}@alpha.example")
    blocked = sign_in(client, password, remote="203.0.113.9", forwarded="192.0.2.200")
    assert "Too many failed sign-ins" in blocked.content.decode()


def test_behind_one_proxy_the_client_is_the_right_most_forwarded_entry(client, admin_a, password, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    sign_in(client, password, remote=BALANCER, forwarded="203.0.113.9")
    assert signed_in_from() == "203.0.113.9"
    client.post(reverse("accounts:logout"))
    sign_in(client, password, remote=BALANCER, forwarded="6.6.6.6, 203.0.113.9")  # the client wrote 6.6.6.6
    assert signed_in_from() == "203.0.113.9"


def test_behind_one_proxy_the_per_client_cap_locks_the_guesser_and_nobody_else(client, admin_a, password, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 3
    for n in range(3):  # each time a different forged left-most entry: it changes nothing
        sign_in(client, "wrong", remote=BALANCER, forwarded=f"192.0.2.{n}, 203.0.113.9", email=f"g{n}@alpha.example")

    guesser = sign_in(client, password, remote=BALANCER, forwarded="192.0.2.99, 203.0.113.9")
    everybody_else = sign_in(client, password, remote=BALANCER, forwarded="198.51.100.7")

    assert "Too many failed sign-ins" in guesser.content.decode()
    assert everybody_else.status_code == 302


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "client_is"),
    [
        (0, "203.0.113.9", "198.51.100.7", "203.0.113.9"),
        (1, BALANCER, "198.51.100.7", "198.51.100.7"),
        (1, BALANCER, "1.1.1.1, 2.2.2.2, 198.51.100.7", "198.51.100.7"),
        (1, BALANCER, "", BALANCER),  # reached the portal without the balancer adding anything
        (2, "10.0.0.2", "6.6.6.6, 198.51.100.7, 10.0.0.1", "198.51.100.7"),
        (2, "10.0.0.2", "198.51.100.7", "198.51.100.7"),  # fewer entries than proxies: the left-most is ours
        (1, BALANCER, "198.51.100.7:50123", "198.51.100.7"),
        (1, BALANCER, "[2001:db8::7]:443", "2001:db8::7"),
        (1, BALANCER, "2001:db8::7", "2001:db8::7"),
        (1, BALANCER, "::ffff:198.51.100.7", "198.51.100.7"),
        (1, BALANCER, "1.1.1.1, not-an-address", BALANCER),  # a broken proxy: the connection, never the forgery
    ],
)
def test_client_address(settings, proxies, remote, forwarded, client_is):
    from throttling.clients import client_address

    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == client_is
