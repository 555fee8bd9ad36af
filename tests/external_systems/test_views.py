"""Settings > External Systems pages. Nothing here talks to Microsoft: the steps are queued for Celery."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from credentials.choices import CredentialState
from external_systems.choices import ConnectionStatus, SystemStatus
from external_systems.models import DeviceCodeConnection, ExternalSystem
from external_systems.selectors import system_health, system_overviews
from external_systems.usage import usage_provider_register, usage_provider_unregister
from tests.external_systems.conftest import CONTOSO, DEVICE_APP, start
from tests.factories import ExternalSystemFactory, MicrosoftCredentialFactory

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
ADD_URL = reverse("external_systems:add", args=["exchange_online"])


def _form(**overrides: str) -> dict[str, str]:
    return {"title": "MS Exchange Online", "client_id": DEVICE_APP, "tenant_id": CONTOSO, **overrides}


def _pending(connection: DeviceCodeConnection, **fields: Any) -> DeviceCodeConnection:
    values = {
        "status": ConnectionStatus.PENDING,
        "user_code": "ABCD2345X",
        "verification_uri": "http://127.0.0.1:9/devicelogin",
        "expires_at": timezone.now() + timedelta(minutes=15),
        **fields,
    }
    DeviceCodeConnection.objects.filter(pk=connection.pk).update(**values)
    connection.refresh_from_db()
    return connection


def test_the_add_menu_offers_exchange_online(admin_a_client):
    page = admin_a_client.get(reverse("external_systems:list")).content.decode()
    assert "No external systems yet" in page
    assert ADD_URL in page and "Microsoft Exchange Online" in page


def test_the_add_form_shows_the_azure_setup_with_a_copyable_manifest(admin_a_client):
    page = admin_a_client.get(ADD_URL).content.decode()
    for text in ("Title", "Client ID", "Tenant ID", "Multitenant", "Public client/native", "Allow public client flows"):
        assert text in page
    assert 'data-copy="exchange-manifest"' in page and 'id="exchange-manifest"' in page
    assert '"allowPublicClient": true' in page and "7427e0e9-2fba-42fe-b0c0-848c9e6a8182" in page
    assert "/common/oauth2/nativeclient" in page


def test_an_unknown_type_is_404(admin_a_client):
    assert admin_a_client.get(reverse("external_systems:add", args=["gmail"])).status_code == 404


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("client_id", "not-a-guid", "The Client ID is a GUID"),
        ("tenant_id", "not a domain", "Enter the Directory (tenant) ID"),
        ("tenant_id", "common", "is not a directory"),
        ("title", "", "This field is required"),
    ],
)
def test_the_form_explains_wrong_values(admin_a_client, field, value, message):
    response = admin_a_client.post(ADD_URL, _form(**{field: value}))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ExternalSystem.objects.exists()


def test_titles_are_unique_per_tenant(admin_a_client, admin_a, admin_b_client):
    admin_a_client.post(ADD_URL, _form())
    response = admin_a_client.post(ADD_URL, _form(title="ms exchange online"))
    assert "already exists" in response.content.decode()
    assert admin_b_client.post(ADD_URL, _form()).status_code == 302  # another tenant may use the same title


def test_ok_saves_and_opens_the_pop_up_while_celery_contacts_microsoft(admin_a_client, tenant_a):
    response = admin_a_client.post(ADD_URL, _form(tenant_id="Contoso.onmicrosoft.com"))

    system = ExternalSystem.objects.get(tenant=tenant_a)
    assert system.directory_input == "contoso.onmicrosoft.com" and system.directory_id == ""
    connection = system.connections.get()
    assert connection.status == ConnectionStatus.STARTING
    assert response.status_code == 302 and response.url.endswith(f"?connection={connection.pk}")
    page = admin_a_client.get(response.url).content.decode()
    assert reverse("external_systems:connection", args=[connection.pk]) in page and 'hx-trigger="load"' in page
    popup = admin_a_client.get(reverse("external_systems:connection", args=[connection.pk]), **HTMX).content.decode()
    assert "Contacting Microsoft" in popup and 'hx-trigger="every 2s"' in popup
    assert AuditEvent.objects.filter(action="external_system.created").exists()


def test_the_pop_up_shows_the_code_link_and_countdown(admin_a_client, system_a, admin_a):
    connection = _pending(start(system_a, admin_a))
    url = reverse("external_systems:connection", args=[connection.pk])

    response = admin_a_client.get(url, **HTMX)
    popup = response.content.decode()

    assert response["HX-Trigger"] == "connection-changed"  # the list behind re-reads its rows
    assert 'id="device-code"' in popup and "ABCD2345X" in popup and 'data-copy="device-code"' in popup
    assert 'href="http://127.0.0.1:9/devicelogin" target="_blank"' in popup
    assert "data-countdown-until=" in popup and "Email the code to the mailbox owner" in popup
    assert f'hx-get="{url}?v=' in popup and 'hx-trigger="every 2s"' in popup
    unchanged = admin_a_client.get(url, {"v": connection.popup_version}, **HTMX)
    assert unchanged.status_code == 204 and "HX-Trigger" not in unchanged  # htmx keeps what the admin is typing
    changed = admin_a_client.get(url, {"v": "starting-0-"}, **HTMX)
    assert changed.status_code == 200 and "ABCD2345X" in changed.content.decode()


def test_without_htmx_the_pop_up_is_a_page(admin_a_client, system_a, admin_a):
    connection = _pending(start(system_a, admin_a))
    page = admin_a_client.get(reverse("external_systems:connection", args=[connection.pk])).content.decode()
    assert "<html" in page and "ABCD2345X" in page


@pytest.mark.parametrize(
    ("status", "texts"),
    [
        (ConnectionStatus.EXPIRED, ["The code expired", "Start again"]),
        (ConnectionStatus.DECLINED, ["declined", "Start again"]),
        (ConnectionStatus.FAILED, ["Microsoft refused", "AADSTS7000218", "Edit settings", "Start again"]),
        (ConnectionStatus.CANCELLED, ["Connection cancelled", "Start again"]),
    ],
)
def test_finished_pop_ups_stop_polling_and_offer_start_again(admin_a_client, system_a, admin_a, status, texts):
    connection = start(system_a, admin_a)
    DeviceCodeConnection.objects.filter(pk=connection.pk).update(
        status=status, error_code=7000218 if status == ConnectionStatus.FAILED else None, error_message="Why."
    )
    url = reverse("external_systems:connection", args=[connection.pk])
    popup = admin_a_client.get(url, **HTMX).content.decode()
    for text in texts:
        assert text in popup
    assert "hx-trigger" not in popup
    polled = admin_a_client.get(url, {"v": "pending-0-"}, **HTMX)
    assert polled.status_code == 286 and texts[0] in polled.content.decode()  # htmx shows it and stops polling
    assert polled["HX-Trigger"] == "connection-changed"


def test_the_pop_up_shows_the_connected_mailbox(admin_a_client, system_a, admin_a):
    connection = start(system_a, admin_a)
    DeviceCodeConnection.objects.filter(pk=connection.pk).update(status=ConnectionStatus.CONNECTED)
    ExternalSystem.objects.filter(pk=system_a.pk).update(mailbox="printing@contoso.com", status=SystemStatus.CONNECTED)
    popup = admin_a_client.get(reverse("external_systems:connection", args=[connection.pk]), **HTMX).content.decode()
    assert "is connected" in popup and "printing@contoso.com" in popup


def test_the_pop_up_asks_before_switching_mailboxes(admin_a_client, system_a, admin_a):
    ExternalSystem.objects.filter(pk=system_a.pk).update(mailbox="printing@contoso.com", status=SystemStatus.CONNECTED)
    connection = start(system_a, admin_a)
    DeviceCodeConnection.objects.filter(pk=connection.pk).update(
        status=ConnectionStatus.CONFIRM_SWITCH, signed_in_mailbox="adele@contoso.com"
    )
    popup = admin_a_client.get(reverse("external_systems:connection", args=[connection.pk]), **HTMX).content.decode()
    assert "Another mailbox signed in" in popup
    assert "Switch to adele@contoso.com" in popup and "Keep printing@contoso.com" in popup

    response = admin_a_client.post(
        reverse("external_systems:connection_switch", args=[connection.pk]), {"decision": "keep"}, **HTMX
    )
    assert "stays connected" in response.content.decode()


def test_cancel_and_start_again(admin_a_client, system_a, admin_a):
    connection = _pending(start(system_a, admin_a))

    popup = admin_a_client.post(reverse("external_systems:connection_cancel", args=[connection.pk]), **HTMX)

    assert "Connection cancelled" in popup.content.decode()
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.CANCELLED and connection.flow == ""
    popup = admin_a_client.post(reverse("external_systems:connection_restart", args=[connection.pk]), **HTMX)
    assert "Contacting Microsoft" in popup.content.decode()
    assert system_a.connections.filter(status=ConnectionStatus.STARTING).count() == 1


def test_emailing_the_code_checks_the_address(admin_a_client, system_a, admin_a):
    connection = _pending(start(system_a, admin_a))
    url = reverse("external_systems:connection_email", args=[connection.pk])

    bad = admin_a_client.post(url, {"recipient": "not an address"}, **HTMX).content.decode()
    good = admin_a_client.post(url, {"recipient": "owner@contoso.com"}, **HTMX).content.decode()

    assert "Enter a valid email address" in bad
    assert "on their way to owner@contoso.com" in good
    assert AuditEvent.objects.filter(action="external_system.code_emailed", details__recipient="owner@contoso.com")


def test_the_list_shows_state_and_actions(admin_a_client, system_a, admin_a):
    page = admin_a_client.get(reverse("external_systems:list")).content.decode()
    assert "MS Exchange Online" in page and "Not connected" in page and ">Connect<" in page
    connection = _pending(start(system_a, admin_a))
    page = admin_a_client.get(reverse("external_systems:list")).content.decode()
    assert "Waiting for sign-in" in page and "Show code" in page
    assert reverse("external_systems:connection", args=[connection.pk]) in page


def test_reconnect_opens_the_pop_up(admin_a_client, system_a):
    response = admin_a_client.post(reverse("external_systems:reconnect", args=[system_a.pk]), **HTMX)
    assert "Contacting Microsoft" in response.content.decode()
    assert system_a.connections.get().status == ConnectionStatus.STARTING


def test_editing_the_title_saves_at_once(admin_a_client, system_a):
    url = reverse("external_systems:detail", args=[system_a.pk])
    assert "Only the title can change without signing in again" in admin_a_client.get(url).content.decode()

    response = admin_a_client.post(url, _form(title="Front desk mailbox"))

    assert response.status_code == 302
    system_a.refresh_from_db()
    assert system_a.title == "Front desk mailbox" and not system_a.connections.exists()


def test_a_new_client_id_is_explained_before_saving(admin_a_client, system_a):
    url = reverse("external_systems:detail", args=[system_a.pk])
    other_app = "7e570002-0000-4000-8000-000000000002"

    warned = admin_a_client.post(url, _form(client_id=other_app))

    page = warned.content.decode()
    assert warned.status_code == 200 and "Changing the Client ID needs a new connection" in page
    assert "Save and connect again" in page and 'name="confirm_new_connection"' in page
    system_a.refresh_from_db()
    assert system_a.client_id == DEVICE_APP

    saved = admin_a_client.post(url, _form(client_id=other_app, confirm_new_connection="on"))

    system_a.refresh_from_db()
    assert system_a.client_id == other_app
    connection = system_a.connections.get()
    assert saved.url.endswith(f"?connection={connection.pk}")


def test_delete_shows_what_uses_the_system_first(admin_a_client, system_a):
    def provider(system: ExternalSystem) -> list[str]:
        return [f"Outgoing SMTP server (Settings › Network) uses {system.title}"]

    usage_provider_register(provider)
    try:
        page = admin_a_client.get(reverse("external_systems:delete", args=[system_a.pk])).content.decode()
    finally:
        usage_provider_unregister(provider)

    assert "is in use" in page and "Outgoing SMTP server (Settings › Network) uses MS Exchange Online" in page
    response = admin_a_client.post(reverse("external_systems:delete", args=[system_a.pk]))
    assert response.status_code == 302 and not ExternalSystem.objects.exists()
    assert AuditEvent.objects.filter(action="external_system.deleted").exists()


def test_the_list_pages_through_the_systems_by_title(admin_a, admin_a_client):
    row = re.compile(r'<tr id="system-(\d+)">')
    next_link = re.compile(r'href="\?before=([^"]+)">Next<')
    for n in reversed(range(60)):
        ExternalSystemFactory(tenant=admin_a.tenant, title=f"Mailbox {n:02d}")
    expected = list(ExternalSystem.objects.filter(tenant=admin_a.tenant).values_list("pk", flat=True))

    first = admin_a_client.get(reverse("external_systems:list")).content.decode()
    found = next_link.search(first)
    assert found is not None
    second = admin_a_client.get(f"{reverse('external_systems:list')}?before={unescape(found.group(1))}")
    html = second.content.decode()

    assert [int(pk) for pk in row.findall(first)] + [int(pk) for pk in row.findall(html)] == expected
    assert ">First<" in html and ">Next<" not in html
    assert f'hx-get="{reverse("external_systems:list")}?before=' in html, "the live refresh keeps the page"


def test_the_dashboard_reads_the_systems_that_may_need_attention_only(admin_a):
    """What the dashboard lists is what the health of every system says (read in SQL first, built after)."""
    tenant = admin_a.tenant
    ExternalSystemFactory(tenant=tenant, title="Never connected")
    ExternalSystemFactory(tenant=tenant, title="Connected without a sign-in", connected=True)
    for title, state in (
        ("Connected", CredentialState.ACTIVE),
        ("Needs reconnect", CredentialState.NEEDS_RECONNECT),
        ("Retrying", CredentialState.RETRYING),
    ):
        system = ExternalSystemFactory(tenant=tenant, title=title, connected=True)
        MicrosoftCredentialFactory(
            tenant=tenant,
            owner_type="external_system",
            owner_id=system.pk,
            state=state,
            retrying_since=timezone.now() - timedelta(days=2) if state == CredentialState.RETRYING else None,
        )
    for title, status in (("Declined", ConnectionStatus.DECLINED), ("Pending", ConnectionStatus.PENDING)):
        system = ExternalSystemFactory(tenant=tenant, title=title)
        DeviceCodeConnection.objects.create(tenant=tenant, system=system, status=status)

    def needing(healths: list[Any]) -> list[str]:
        return sorted(health.subject for health in healths if health.needs_attention())

    every = [o.health.about(f"External system “{o.system.title}”") for o in system_overviews(tenant=tenant)]
    assert needing(system_health(tenant=tenant)) == needing(every)
    assert len(needing(every)) == 4, needing(every)  # without a sign-in, needs reconnect, retrying, declined
