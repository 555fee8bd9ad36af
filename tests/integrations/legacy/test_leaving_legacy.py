"""Switching an integration from the legacy app to the customer's own: told first, then the legacy-bound
tokens are deleted, the users who held them are flagged (banner, email) and listed for the admin."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from credentials.models import MicrosoftCredential
from integrations.choices import AppKind, ConsentState
from integrations.legacy.models import LegacyCloudServicesSettings, LegacySwitch, LegacyUserSyncSettings
from integrations.legacy.services.migration import legacy_migrate
from integrations.models import Integration
from tests.factories import MicrosoftCredentialFactory, UserFactory
from tests.integrations.conftest import (
    CONTOSO,
    CUSTOM_APP,
    CUSTOM_SECRET,
    feature_of,
)
from tests.integrations.legacy.conftest import LEGACY_APP, LEGACY_USER_SYNC_APP

pytestmark = pytest.mark.django_db


@pytest.fixture
def migrated(admin_a: Any) -> dict[str, Any]:
    """A tenant migrated from before integrations: User Synchronization's app token and two users' OneDrive."""
    tenant, now = admin_a.tenant, timezone.now()
    sync = LegacyUserSyncSettings.objects.create(
        tenant=tenant, enabled=True, directory_id=CONTOSO, admin_consent_granted_at=now
    )
    cloud = LegacyCloudServicesSettings.objects.create(
        tenant=tenant, onedrive_enabled=True, directory_id=CONTOSO, admin_consent_granted_at=now
    )
    adele = UserFactory(tenant=tenant, email="adele@alpha.example", full_name="Adele Vance")
    alex = UserFactory(tenant=tenant, email="alex@alpha.example", full_name="Alex Wilber")
    bystander = UserFactory(tenant=tenant, email="megan@alpha.example", full_name="Megan Bowen")
    MicrosoftCredentialFactory(
        tenant=tenant, owner_type="legacy_user_sync", owner_id=sync.pk, client_id=LEGACY_USER_SYNC_APP
    )
    for user in (adele, alex):
        MicrosoftCredentialFactory(
            tenant=tenant, owner_type="legacy_cloud_storage", owner_id=cloud.pk, client_id=LEGACY_APP, user=user
        )
    plan = legacy_migrate(tenant=tenant, actor=admin_a)
    return {"integration": plan.integration, "adele": adele, "alex": alex, "bystander": bystander}


def _edit(client: Any, integration: Integration, **extra: str) -> Any:
    data = {
        "name": integration.name,
        "directory": CONTOSO,
        "application_id": CUSTOM_APP,
        "client_secret": CUSTOM_SECRET,
        **extra,
    }
    return client.post(reverse("integrations:edit", args=[integration.pk]), data)


def test_edit_shows_the_legacy_app_id_of_a_migrated_integration(m365: Any, admin_a_client: Any, migrated: Any) -> None:
    page = admin_a_client.get(reverse("integrations:edit", args=[migrated["integration"].pk])).content.decode()
    assert f'value="{LEGACY_APP}"' in page


def test_the_confirmation_says_exactly_what_leaving_the_legacy_app_deletes(
    m365: Any, admin_a_client: Any, migrated: Any
) -> None:
    integration = migrated["integration"]

    page = _edit(admin_a_client, integration).content.decode()

    assert "You are leaving the legacy application" in page
    assert "Roger (legacy), Roger User Synchronization (legacy)" in page
    assert "3 stored Microsoft connections will be removed; 2 users will have to connect again" in page
    assert "User Synchronization: the application&#x27;s token" in page
    assert "OneDrive: the connection of Adele Vance &lt;adele@alpha.example&gt;" in page
    assert "OneDrive: the connection of Alex Wilber &lt;alex@alpha.example&gt;" in page
    assert "Users who must reconnect (2)" in page
    assert "Megan Bowen" not in page
    assert "The stored consent is deleted and must be granted again for: User Synchronization" in page
    # Nothing happened yet.
    assert MicrosoftCredential.objects.count() == 3
    integration.refresh_from_db()
    assert integration.is_legacy and integration.app_registrations.count() == 2


def test_saving_deletes_the_legacy_tokens_flags_and_emails_the_users_and_lists_them(
    m365: Any, admin_a_client: Any, migrated: Any, django_capture_on_commit_callbacks: Any
) -> None:
    integration = migrated["integration"]
    adele, alex, bystander = migrated["adele"], migrated["alex"], migrated["bystander"]

    with django_capture_on_commit_callbacks(execute=True):
        response = _edit(admin_a_client, integration, confirm="1")

    switch = LegacySwitch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("integrations:legacy_switch", args=[integration.pk, switch.pk])
    assert not MicrosoftCredential.objects.exists()
    for user, flagged in ((adele, True), (alex, True), (bystander, False)):
        user.refresh_from_db()
        assert user.microsoft_reconnect_required is flagged
    integration.refresh_from_db()
    assert not integration.is_legacy
    (app,) = integration.app_registrations.all()
    assert app.kind == AppKind.CUSTOMER and app.client_id == CUSTOM_APP
    assert set(integration.features.values_list("app_registration", flat=True)) == {app.pk}
    user_sync = feature_of(integration, "user_sync")
    assert user_sync.enabled and user_sync.consent_state == ConsentState.NOT_GRANTED
    assert switch.tokens_deleted == 3 and switch.consents_reset == ["User Synchronization", "OneDrive"]
    event = AuditEvent.objects.get(action="integration.legacy_left")
    assert sorted(event.details["users_flagged"]) == sorted([adele.pk, alex.pk])

    assert sorted(m.to[0] for m in mail.outbox) == ["adele@alpha.example", "alex@alpha.example"]
    assert all(m.subject == "Reconnect your Microsoft account in Roger" for m in mail.outbox)
    assert reverse("integrations:cloud_services") in mail.outbox[0].body

    page = admin_a_client.get(response["Location"]).content.decode()
    assert "Users who must reconnect (2)" in page
    assert "Adele Vance" in page and "Alex Wilber" in page and "Megan Bowen" not in page
    assert page.count("Not reconnected yet") == 2
    detail = admin_a_client.get(reverse("integrations:detail", args=[integration.pk])).content.decode()
    assert "left the legacy application" in detail


def test_flagged_user_sees_the_banner_and_the_reconnect_page(
    m365: Any, admin_a_client: Any, migrated: Any, client: Any
) -> None:
    _edit(admin_a_client, migrated["integration"], confirm="1")
    client.force_login(migrated["adele"])

    page = client.get(reverse("dashboard")).content.decode()
    assert "Your Microsoft connection needs to be renewed" in page
    assert reverse("onedrive:cloud_services") in page

    cloud = client.get(reverse("integrations:cloud_services"), follow=True).content.decode()
    assert "Connect again." in cloud and "Not connected" in cloud
    assert (
        reverse("integrations:cloud_services_connect", args=[feature_of(migrated["integration"], "onedrive").pk])
        in cloud
    )

    client.force_login(migrated["bystander"])
    assert "Your Microsoft connection needs to be renewed" not in client.get(reverse("dashboard")).content.decode()


def test_a_user_with_nothing_to_reconnect_can_dismiss_the_notice(user_a: Any, user_a_client: Any) -> None:
    user_a.microsoft_reconnect_required = True
    user_a.save()

    page = user_a_client.get(reverse("onedrive:cloud_services")).content.decode()
    assert "OneDrive is not enabled in the new application yet" in page
    user_a_client.post(reverse("integrations:cloud_services_dismiss"))

    user_a.refresh_from_db()
    assert not user_a.microsoft_reconnect_required
    assert AuditEvent.objects.filter(action="integration.reconnect_notice_dismissed").exists()


def test_another_tenants_admin_gets_404_and_a_user_403_on_the_affected_users_page(
    m365: Any, admin_a_client: Any, admin_b_client: Any, user_a_client: Any, migrated: Any
) -> None:
    _edit(admin_a_client, migrated["integration"], confirm="1")
    switch = LegacySwitch.objects.get()
    url = reverse("integrations:legacy_switch", args=[migrated["integration"].pk, switch.pk])

    assert admin_b_client.get(url).status_code == 404
    assert user_a_client.get(url).status_code == 403
    assert admin_a_client.get(url).status_code == 200


def test_another_tenants_onedrive_cannot_be_connected(admin_b: Any, user_a_client: Any, migrated: Any) -> None:
    onedrive = feature_of(migrated["integration"], "onedrive")
    other: Any = UserFactory(tenant=admin_b.tenant)
    from django.test import Client

    client = Client()
    client.force_login(other)
    assert client.post(reverse("integrations:cloud_services_connect", args=[onedrive.pk])).status_code == 404


def test_the_edit_says_what_leaving_the_legacy_app_did(admin_a: Any, migrated: Any, contoso_a: Integration) -> None:
    from integrations.services.integrations import CheckedSetup, ManualSetup, integration_update_manual

    def save(integration: Integration) -> Any:
        setup = ManualSetup(
            name=integration.name,
            directory=CONTOSO,
            application_id=CUSTOM_APP,
            client_secret=CUSTOM_SECRET,
            secret_expires_on=None,
        )
        return integration_update_manual(
            integration=integration, actor=admin_a, checked=CheckedSetup(setup, directory_id=CONTOSO)
        )

    left = save(migrated["integration"]).left_legacy

    assert left is not None and left.tokens_deleted == 3
    assert set(left.affected_users.all()) == {migrated["adele"], migrated["alex"]}
    assert save(contoso_a).left_legacy is None, "an integration on its own app leaves nothing"
