"""Settings > Network: the form, its validation, the write-only password, the audit trail, tenant isolation."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from external_systems.models import ExternalSystem
from mail_servers.choices import ServerStatus
from mail_servers.services import mail_server_status_record
from outgoing_mail.choices import OutboundPurpose, OutboundStatus
from outgoing_mail.models import OutboundEmail, OutgoingMailSettings
from tests.factories import ExternalSystemFactory, OutgoingMailSettingsFactory
from tests.outgoing_mail.conftest import CONTOSO

pytestmark = pytest.mark.django_db

NETWORK = reverse("outgoing_mail:network")
TEST_EMAIL = reverse("outgoing_mail:test_email")
SECRET = "Relay-S3cret-Value"


def custom_form(**overrides: Any) -> dict[str, Any]:
    data = {
        "mode": "custom",
        "custom_host": "smtp.alpha.example",
        "custom_port": "587",
        "custom_security": "starttls",
        "custom_username": "relay@alpha.example",
        "custom_password": SECRET,
        "from_address": "print@alpha.example",
        "from_name": "Alpha Print",
    }
    return {**data, **overrides}


def exchange_system(
    tenant: Any, title: str = "Alpha mail", mailbox: str = "printing@contoso.onmicrosoft.com", status: str = "connected"
) -> ExternalSystem:
    return ExternalSystemFactory(tenant=tenant, title=title, directory_id=CONTOSO, mailbox=mailbox, status=status)


def test_the_page_offers_the_three_servers_and_says_when_nothing_is_connected(admin_a_client) -> None:  # type: ignore[no-untyped-def]
    page = admin_a_client.get(NETWORK).content.decode()

    for label in ("Roger&#x27;s mail server (default)", "Microsoft Exchange Online", "Custom SMTP server"):
        assert label in page
    assert "No Exchange Online system is connected yet" in page
    assert reverse("external_systems:list") in page


def test_saving_a_custom_server_stores_the_password_encrypted_and_never_shows_it(admin_a_client, admin_a) -> None:  # type: ignore[no-untyped-def]
    response = admin_a_client.post(NETWORK, custom_form())

    assert response.status_code == 302
    saved = OutgoingMailSettings.objects.get(tenant=admin_a.tenant)
    assert (saved.mode, saved.mail_server.host, saved.mail_server.password) == ("custom", "smtp.alpha.example", SECRET)
    page = admin_a_client.get(NETWORK).content.decode()
    assert SECRET not in page and "Password saved" in page and "smtp.alpha.example" in page
    event = AuditEvent.objects.get(action="outgoing_mail.settings_changed")
    assert event.actor == admin_a and event.details["changed"]["password"] == "(changed)"
    assert SECRET not in str(event.details)


def test_an_empty_password_keeps_the_saved_one(admin_a_client, admin_a) -> None:  # type: ignore[no-untyped-def]
    """On the same server and user name; a new host, port or user name needs it again (tests/security)."""
    admin_a_client.post(NETWORK, custom_form())
    admin_a_client.post(NETWORK, custom_form(custom_password="", from_name="Alpha Printing"))

    saved = OutgoingMailSettings.objects.get(tenant=admin_a.tenant)
    assert (saved.from_name, saved.mail_server.password) == ("Alpha Printing", SECRET)
    latest = AuditEvent.objects.filter(action="outgoing_mail.settings_changed").first()
    assert latest is not None and latest.details["changed"] == {"from_name": "Alpha Printing"}


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"custom_host": ""}, "custom_host", "Enter the SMTP server&#x27;s host name."),
        ({"custom_host": "https://smtp.alpha.example"}, "custom_host", "Enter the host name only"),
        ({"from_address": ""}, "from_address", "Enter the address the mail is sent from."),
        ({"custom_password": ""}, "custom_password", "Enter the password of this user name."),
        ({"custom_security": "none"}, "custom_security", "a password is never sent over an unencrypted connection"),
        ({"custom_port": "70000"}, "custom_port", "less than or equal to 65535"),
    ],
)
def test_custom_server_validation(admin_a_client, overrides, field, message) -> None:  # type: ignore[no-untyped-def]
    response = admin_a_client.post(NETWORK, custom_form(**overrides))

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert message in response.content.decode()
    assert not OutgoingMailSettings.objects.exists()


def test_exchange_needs_a_connected_system(admin_a_client, tenant_a) -> None:  # type: ignore[no-untyped-def]
    exchange_system(tenant_a, title="Not yet", status="not_connected")
    response = admin_a_client.post(NETWORK, {"mode": "exchange", "custom_security": "starttls"})

    assert "Choose the Exchange Online system whose mailbox sends the mail." in response.content.decode()
    assert not OutgoingMailSettings.objects.exists()


def test_exchange_with_a_connected_system_of_the_tenant(admin_a_client, tenant_a) -> None:  # type: ignore[no-untyped-def]
    system = exchange_system(tenant_a)
    page = admin_a_client.get(NETWORK).content.decode()
    assert "Alpha mail (printing@contoso.onmicrosoft.com)" in page

    response = admin_a_client.post(
        NETWORK,
        {
            "mode": "exchange",
            "exchange_system": system.pk,
            "send_as_mailbox": "Printers@Contoso.onmicrosoft.com",
            "custom_security": "starttls",
            "from_name": "Alpha Print",
        },
    )

    assert response.status_code == 302
    saved = OutgoingMailSettings.objects.get(tenant=tenant_a)
    assert saved.mode == "exchange"
    assert (saved.mail_server.exchange_system, saved.mail_server.shared_mailbox) == (
        system,
        "printers@contoso.onmicrosoft.com",
    )


def test_another_tenants_system_cannot_be_chosen(admin_a_client, tenant_b) -> None:  # type: ignore[no-untyped-def]
    theirs = exchange_system(tenant_b, title="Bravo mail")

    assert "Bravo mail" not in admin_a_client.get(NETWORK).content.decode()
    response = admin_a_client.post(
        NETWORK, {"mode": "exchange", "exchange_system": theirs.pk, "custom_security": "starttls"}
    )
    assert "Choose one of the connected Exchange Online systems." in response.content.decode()
    assert not OutgoingMailSettings.objects.exists()


def test_send_test_email_queues_it_and_the_fragment_polls_while_pending(admin_a_client, admin_a) -> None:  # type: ignore[no-untyped-def]
    response = admin_a_client.post(TEST_EMAIL, {"recipient": "someone@example.net"}, HTTP_HX_REQUEST="true")

    outbound = OutboundEmail.objects.get(purpose=OutboundPurpose.TEST)
    assert (outbound.tenant, outbound.recipients) == (admin_a.tenant, ["someone@example.net"])
    assert outbound.status == "queued"
    fragment = response.content.decode()
    assert "Sending the test email to someone@example.net" in fragment
    status_url = reverse("outgoing_mail:test_email_status", args=[outbound.pk])
    assert f'hx-get="{status_url}?v=queued%3A0%3A0"' in fragment and 'hx-trigger="every 1s"' in fragment
    unchanged = admin_a_client.get(status_url, {"v": "queued:0:0"}, HTTP_HX_REQUEST="true")
    assert unchanged.status_code == 204 and unchanged.content == b""
    OutboundEmail.objects.filter(pk=outbound.pk).update(waiting_for_limit=True)
    changed = admin_a_client.get(status_url, {"v": "queued:0:0"}, HTTP_HX_REQUEST="true")
    assert changed.status_code == 200 and "waits for the mailbox's sending limit" in changed.content.decode()
    assert f'hx-get="{status_url}?v=queued%3A0%3A1"' in changed.content.decode()
    assert AuditEvent.objects.filter(action="outgoing_mail.test_email_requested", actor=admin_a).exists()


def test_a_finished_test_email_stops_polling_and_explains_the_failure(admin_a_client, admin_a) -> None:  # type: ignore[no-untyped-def]
    admin_a_client.post(TEST_EMAIL, {"recipient": "someone@example.net"})
    outbound = OutboundEmail.objects.get(purpose=OutboundPurpose.TEST)
    OutboundEmail.objects.filter(pk=outbound.pk).update(
        status=OutboundStatus.FAILED,
        failure_kind="reconnect",
        last_error="Use Reconnect.",
        fix_url="/settings/external-systems/7/",
    )

    response = admin_a_client.get(
        reverse("outgoing_mail:test_email_status", args=[outbound.pk]), {"v": "queued:0:0"}, HTTP_HX_REQUEST="true"
    )
    fragment = response.content.decode()

    assert response.status_code == 286 and "hx-trigger" not in fragment  # htmx shows it and stops polling
    assert 'id="recent-mail"' in fragment and 'hx-swap-oob="true"' in fragment  # the mail list catches up
    assert "The Exchange Online connection must be reconnected" in fragment and "Use Reconnect." in fragment
    assert 'href="/settings/external-systems/7/"' in fragment


def test_an_invalid_test_recipient_is_explained(admin_a_client) -> None:  # type: ignore[no-untyped-def]
    response = admin_a_client.post(TEST_EMAIL, {"recipient": "not an address"})
    assert response.status_code == 400 and "Enter a valid email address." in response.content.decode()
    assert not OutboundEmail.objects.exists()


# --- tenant isolation -------------------------------------------------------------------------------------------


def test_another_tenant_gets_404_on_a_test_email(admin_a_client, admin_b_client) -> None:  # type: ignore[no-untyped-def]
    admin_a_client.post(TEST_EMAIL, {"recipient": "someone@example.net"})
    outbound = OutboundEmail.objects.get()
    url = reverse("outgoing_mail:test_email_status", args=[outbound.pk])

    assert admin_a_client.get(url).status_code == 200
    assert admin_b_client.get(url).status_code == 404


def test_each_tenant_sees_only_its_own_settings_and_mail(admin_a_client, admin_b_client, admin_b) -> None:  # type: ignore[no-untyped-def]
    admin_a_client.post(NETWORK, custom_form())
    admin_a_client.post(TEST_EMAIL, {"recipient": "alpha-only@example.net"})

    page = admin_b_client.get(NETWORK).content.decode()
    assert "smtp.alpha.example" not in page and "alpha-only@example.net" not in page
    assert not OutgoingMailSettings.objects.filter(tenant=admin_b.tenant).exists()


@pytest.mark.parametrize("url", [NETWORK, TEST_EMAIL, reverse("outgoing_mail:test_email_status", args=[1])])
def test_plain_users_get_403(user_a_client, url) -> None:  # type: ignore[no-untyped-def]
    response = user_a_client.post(url, {}) if url == TEST_EMAIL else user_a_client.get(url)
    assert response.status_code == 403


@pytest.mark.parametrize("url", [NETWORK, reverse("outgoing_mail:test_email_status", args=[1])])
def test_anonymous_is_sent_to_sign_in(client, url) -> None:  # type: ignore[no-untyped-def]
    response = client.get(url)
    assert response.status_code == 302 and reverse("accounts:login") in response.url


def test_the_dashboard_says_when_portal_mail_could_not_go_through_the_tenants_server(
    admin_a_client,
    admin_a,  # type: ignore[no-untyped-def]
    admin_b_client,
) -> None:
    settings = OutgoingMailSettingsFactory(tenant=admin_a.tenant)
    assert "could not send Roger" not in admin_a_client.get(reverse("dashboard")).content.decode()

    # As a send through the tenant's server records it (tests/outgoing_mail/test_delivery.py sends for real).
    mail_server_status_record(
        account_id=settings.mail_server_id,
        status=ServerStatus.NEEDS_ACTION,
        reason="The SMTP server refused the user name or its password.",
    )

    dashboard = admin_a_client.get(reverse("dashboard")).content.decode()
    assert "Your outgoing SMTP server could not send Roger&#x27;s mail" in dashboard and NETWORK in dashboard
    assert "refused the user name" in dashboard
    assert "could not send Roger" not in admin_b_client.get(reverse("dashboard")).content.decode()
    OutgoingMailSettings.objects.filter(pk=settings.pk).update(use_own_server=False)  # Roger's server sends now
    assert "could not send Roger" not in admin_a_client.get(reverse("dashboard")).content.decode()
