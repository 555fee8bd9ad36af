"""Reapply Consents against the emulator: the consent answers come back on the portal's callback (the
consent page itself is clicked in tests/e2e); results per feature, progress between split apps, and the
needs-consent states it clears."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from credentials.choices import CredentialState
from credentials.models import MicrosoftCredential
from integrations.choices import ConsentState
from integrations.models import Integration, ReapplyRun
from integrations.services.features import feature_enable
from tests.factories import MicrosoftCredentialFactory, UserFactory
from tests.integrations.conftest import (
    CONTOSO,
    connected_automatic,
    consented,
    feature_of,
    manual_integration,
)

pytestmark = pytest.mark.django_db

WEB_APP = "7e570003-0000-4000-8000-000000000003"  # multi-tenant, consented in Contoso by the seed
WEB_SECRET = "web~Secret.Value.0003"


def _enabled(integration: Integration, *feature_types: str) -> None:
    for feature_type in feature_types:
        feature_enable(feature=consented(feature_of(integration, feature_type)))


def _answer(client: Any, consent_url: str, *, granted: bool = True) -> Any:
    """Microsoft's redirect back after the admin accepted (or declined) on the consent page."""
    state = parse_qs(urlsplit(consent_url).query)["state"][0]
    if granted:
        params = {
            "admin_consent": "True",
            "tenant": CONTOSO,
            "state": state,
            "scope": "https://graph.microsoft.com/.default",
        }
    else:
        params = {"error": "access_denied", "error_description": "AADSTS65004: declined", "state": state}
    return client.get(reverse("integration_callbacks:consent"), params)


def _start(client: Any, integration: Integration) -> str:
    response = client.post(reverse("integrations:reapply_start", args=[integration.pk]))
    assert response.status_code == 302 and "/adminconsent?" in response["Location"], response
    return str(response["Location"])


def test_custom_app_needs_one_consent_and_clears_the_needs_consent_states(
    m365: Any, admin_a: Any, admin_a_client: Any
) -> None:
    integration = manual_integration(admin_a, application_id=WEB_APP, client_secret=WEB_SECRET)
    _enabled(integration, "user_sync", "onedrive")
    user_sync, onedrive = feature_of(integration, "user_sync"), feature_of(integration, "onedrive")
    for feature in (user_sync, onedrive):
        feature.consent_state, feature.consent_reason = ConsentState.NEEDS_CONSENT, "Consent was removed."
        feature.save()
    app_token = MicrosoftCredentialFactory(
        tenant=admin_a.tenant,
        owner_type="feature",
        owner_id=user_sync.pk,
        client_id=WEB_APP,
        state=CredentialState.NEEDS_CONSENT,
        state_reason="AADSTS65001",
    )
    user_token = MicrosoftCredentialFactory(
        tenant=admin_a.tenant,
        owner_type="feature",
        owner_id=onedrive.pk,
        client_id=WEB_APP,
        user=UserFactory(tenant=admin_a.tenant),
        state=CredentialState.NEEDS_CONSENT,
    )

    consent_url = _start(admin_a_client, integration)
    assert parse_qs(urlsplit(consent_url).query)["client_id"] == [WEB_APP]
    response = _answer(admin_a_client, consent_url)

    run = ReapplyRun.objects.get()
    assert run.total == 1 and run.finished_at is not None
    assert [(r["label"], r["ok"]) for r in run.results] == [("User Synchronization", True), ("OneDrive", True)]
    for feature in (user_sync, onedrive):
        feature.refresh_from_db()
        assert feature.consent_state == ConsentState.GRANTED and feature.consent_reason == ""
    app_token.refresh_from_db()
    user_token.refresh_from_db()
    assert app_token.state == CredentialState.ACTIVE, "the app token was acquired again"
    assert user_token.state == CredentialState.REFRESHING, "the user's token is refreshed in the background"
    assert AuditEvent.objects.filter(action="integration.consents_reapplied").count() == 1

    page = admin_a_client.get(response["Location"]).content.decode()
    assert "Reapply Consents finished" in page
    for feature_type in ("user_sync", "onedrive"):
        row = page.split(f'id="feature-{feature_type}"', 1)[1].split("</tr>", 1)[0]
        consent = row.split('<td class="consent">', 1)[1].split("</td>", 1)[0]
        assert 'data-health="ok"' in consent and "Consent granted" in consent, feature_type


def test_split_apps_consent_one_after_another_with_progress(m365: Any, admin_a: Any, admin_a_client: Any) -> None:
    integration = connected_automatic(admin_a)
    _enabled(integration, "login", "user_sync", "onedrive")
    detail = reverse("integrations:detail", args=[integration.pk])

    first = _start(admin_a_client, integration)
    assert parse_qs(urlsplit(first).query)["client_id"] == [feature_of(integration, "login").app_registration.client_id]
    assert _answer(admin_a_client, first)["Location"] == detail
    page = admin_a_client.get(detail).content.decode()
    assert "Reapply Consents: 1 of 3 done." in page
    assert "Continue: consent 2 of 3" in page and "Roger Entra ID Connector" in page

    run = ReapplyRun.objects.get()
    second = admin_a_client.post(reverse("integrations:reapply_continue", args=[integration.pk, run.pk]))["Location"]
    assert parse_qs(urlsplit(second).query)["client_id"] == [
        feature_of(integration, "user_sync").app_registration.client_id
    ]
    _answer(admin_a_client, second, granted=False)
    page = admin_a_client.get(detail).content.decode()
    assert "2 of 3</strong> done" in page and "Continue: consent 3 of 3" in page

    third = admin_a_client.post(reverse("integrations:reapply_continue", args=[integration.pk, run.pk]))["Location"]
    _answer(admin_a_client, third)
    run.refresh_from_db()
    assert run.finished_at is not None and not run.stopped
    assert [(r["label"], r["ok"]) for r in run.results] == [
        ("Login", True),
        ("User Synchronization", False),
        ("OneDrive", True),
    ]
    assert "declined" in str(run.results[1]["message"]).lower()
    page = admin_a_client.get(detail).content.decode()
    assert "Not granted" in page


def test_stop_keeps_what_was_granted_and_a_new_run_starts_over(m365: Any, admin_a: Any, admin_a_client: Any) -> None:
    integration = connected_automatic(admin_a)
    _enabled(integration, "login", "onedrive")
    _answer(admin_a_client, _start(admin_a_client, integration))
    run = ReapplyRun.objects.get()

    admin_a_client.post(reverse("integrations:reapply_stop", args=[integration.pk, run.pk]))

    run.refresh_from_db()
    assert run.stopped and run.position == 1
    response = admin_a_client.post(reverse("integrations:reapply_continue", args=[integration.pk, run.pk]))
    assert response["Location"] == reverse("integrations:detail", args=[integration.pk])
    _start(admin_a_client, integration)
    assert ReapplyRun.objects.filter(finished_at__isnull=True).count() == 1


@pytest.mark.parametrize(
    ("directory", "enable", "message"),
    [("", False, "no admin consent to reapply"), (CONTOSO, False, "No feature is enabled")],
)
def test_reapply_explains_when_there_is_nothing_to_consent(
    admin_a: Any, admin_a_client: Any, directory: str, enable: bool, message: str
) -> None:
    integration = manual_integration(admin_a, directory_id=directory)
    response = admin_a_client.post(reverse("integrations:reapply_start", args=[integration.pk]), follow=True)
    assert message in response.content.decode()
    assert not ReapplyRun.objects.exists()


def test_django_admin_action_reacquires_app_tokens(m365: Any, admin_a: Any, client: Any) -> None:
    from accounts.models import User

    integration = manual_integration(admin_a, application_id=WEB_APP, client_secret=WEB_SECRET)
    _enabled(integration, "user_sync")
    user_sync = feature_of(integration, "user_sync")
    user_sync.consent_state = ConsentState.NEEDS_CONSENT
    user_sync.save()
    client.force_login(User.objects.create_superuser("operator", "operator@roger.example", "pw"))

    response = client.post(
        reverse("admin:integrations_integration_changelist"),
        {"action": "reapply_consents", "_selected_action": [integration.pk]},
        follow=True,
    )

    assert "App token acquired: consent is in place" in response.content.decode()
    user_sync.refresh_from_db()
    assert user_sync.consent_state == ConsentState.GRANTED
    credential = MicrosoftCredential.objects.get(owner_type="feature", owner_id=user_sync.pk)
    assert credential.state == CredentialState.ACTIVE and credential.client_id == WEB_APP


REAPPLY_POSTS = ["integrations:reapply_continue", "integrations:reapply_stop"]


def test_other_tenant_gets_404_and_a_user_403_on_reapply(
    admin_a: Any, admin_a_client: Any, admin_b_client: Any, user_a_client: Any
) -> None:
    integration = manual_integration(admin_a)
    run = ReapplyRun.objects.create(integration=integration, tenant=admin_a.tenant, admin=admin_a, app_ids=[1])
    start = reverse("integrations:reapply_start", args=[integration.pk])
    assert admin_b_client.post(start).status_code == 404
    assert user_a_client.post(start).status_code == 403
    for name in REAPPLY_POSTS:
        url = reverse(name, args=[integration.pk, run.pk])
        assert admin_b_client.post(url).status_code == 404
        assert user_a_client.post(url).status_code == 403
    run.refresh_from_db()
    assert run.is_open
