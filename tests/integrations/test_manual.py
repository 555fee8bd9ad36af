"""Set up manually against the emulator: what the admin typed is checked with Microsoft before anything is saved."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from integrations.models import Integration
from tests.factories import MicrosoftCredentialFactory
from tests.integrations.conftest import (
    CONTOSO,
    CUSTOM_APP,
    CUSTOM_SECRET,
    EXPIRED_SECRET,
    EXPIRED_SECRET_APP,
    FABRIKAM,
    UNKNOWN_APP,
    feature_of,
)

pytestmark = pytest.mark.django_db


def _post(client, **fields):
    data = {
        "name": "Contoso custom",
        "directory": "",
        "application_id": CUSTOM_APP,
        "client_secret": CUSTOM_SECRET,
        "secret_expires_on": "",
    }
    data.update(fields)
    return client.post(reverse("integrations:add_manual"), data)


def test_domain_is_resolved_to_the_directory_guid_and_every_feature_starts_disabled(m365, admin_a_client):
    response = _post(admin_a_client, directory="contoso.onmicrosoft.com", secret_expires_on="2027-03-01")
    assert response.status_code == 302, response.content.decode()[:2000]
    integration = Integration.objects.get(name="Contoso custom")
    assert integration.directory_id == CONTOSO and integration.directory_domain == "contoso.onmicrosoft.com"
    assert set(integration.features.values_list("directory_id", flat=True)) == {CONTOSO}
    assert not integration.features.filter(enabled=True).exists()
    app = integration.app_registrations.get()
    assert app.client_secret == CUSTOM_SECRET and str(app.secret_expires_on) == "2027-03-01"
    page = admin_a_client.get(response.url).content.decode()
    assert CUSTOM_SECRET not in page and "Lapses on 1 Mar 2027" in page


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"directory": CONTOSO, "client_secret": "wrong~secret"}, "The Application Secret is wrong"),
        (
            {"directory": CONTOSO, "application_id": EXPIRED_SECRET_APP, "client_secret": EXPIRED_SECRET},
            "The Application Secret has expired",
        ),
        ({"directory": CONTOSO, "application_id": UNKNOWN_APP}, "Microsoft does not know this Application"),
        ({"directory": "nowhere.onmicrosoft.com"}, "Microsoft does not know this directory"),
        ({"directory": "not a domain"}, "Enter the Directory (Tenant) ID as a GUID"),
        ({"application_id": "12345"}, "Enter the Application (client) ID"),
        ({"client_secret": ""}, "Enter the Application Secret of this application"),
    ],
    ids=["wrong-secret", "expired-secret", "unknown-app", "unknown-domain", "bad-domain", "bad-guid", "no-secret"],
)
def test_bad_input_is_explained_and_nothing_is_saved(m365, admin_a_client, fields, message):
    response = _post(admin_a_client, **fields)
    page = response.content.decode()
    assert response.status_code == 200
    assert message in page
    assert not Integration.objects.exists()


def test_blank_directory_allows_any_organization_but_not_sync_or_print(m365, admin_a_client):
    response = _post(admin_a_client)
    integration = Integration.objects.get(name="Contoso custom")
    assert feature_of(integration, "login").consent_state == "per_user"
    page = admin_a_client.post(
        reverse("integrations:feature_enable", args=[integration.pk, feature_of(integration, "user_sync").pk]),
        follow=True,
    ).content.decode()
    assert "needs the Directory (Tenant) ID" in page
    assert response.status_code == 302 and not feature_of(integration, "user_sync").enabled


def test_legacy_app_needs_no_secret(m365, admin_a_client, settings):
    legacy = settings.MICROSOFT_APPS["LEGACY"]["client_id"]
    response = _post(admin_a_client, application_id=legacy, client_secret="")
    assert response.status_code == 302
    app = Integration.objects.get().app_registrations.get()
    assert app.kind == "legacy" and app.client_secret == ""


def test_adding_a_directory_later_asks_before_dropping_tokens_from_other_directories(m365, admin_a, admin_a_client):
    from credentials.models import MicrosoftCredential

    _post(admin_a_client)
    integration = Integration.objects.get()
    login = feature_of(integration, "login")
    MicrosoftCredentialFactory(
        tenant=admin_a.tenant, owner_id=login.pk, user=admin_a, directory_id=FABRIKAM, client_id=CUSTOM_APP
    )
    edit = reverse("integrations:edit", args=[integration.pk])
    data = {"name": "Contoso custom", "directory": CONTOSO, "application_id": CUSTOM_APP, "client_secret": ""}

    page = admin_a_client.post(edit, data).content.decode()
    assert "1 stored Microsoft connection will be removed" in page
    assert MicrosoftCredential.objects.count() == 1
    integration.refresh_from_db()
    assert integration.directory_id == ""

    response = admin_a_client.post(edit, {**data, "confirm": "1"}, REMOTE_ADDR="203.0.113.8")
    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.directory_id == CONTOSO
    assert MicrosoftCredential.objects.count() == 0
    events = AuditEvent.objects.filter(action__in=["integration.updated", "credential.deleted"])
    assert sorted((e.action, e.actor, e.ip_address) for e in events) == [
        ("credential.deleted", admin_a, "203.0.113.8"),
        ("integration.updated", admin_a, "203.0.113.8"),
    ], "the page's user and address, from the request context"
    assert feature_of(integration, "login").consent_state == "not_granted"
