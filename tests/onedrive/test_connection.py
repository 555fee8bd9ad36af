"""The user's OneDrive connection at use: a revoked grant or a withdrawn permission stops the work, shows the banner
with Reconnect and emails the user once; a refused token is renewed once; admin consent spares the consent page."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.urls import reverse

from audit.models import AuditEvent
from credentials.choices import CredentialState
from credentials.models import MicrosoftCredential
from onedrive.choices import PrintStatus, ScanStatus
from tests.emulator.browser import Browser, forms_of
from tests.onedrive.conftest import ADELE, ONEDRIVE_APP, connect, deliver, due_now, printed, scanned
from tests.security.conftest import CONTOSO, CONTOSO_ADMIN, admin_consent_url

pytestmark = [pytest.mark.emulator, pytest.mark.django_db]


def _revoke(m365: Any) -> None:
    """Adele's sign-in is revoked at Microsoft (say, a password change), and her access token has expired since:
    the next use needs the refresh token, which Microsoft refuses."""
    from django.utils import timezone

    m365.control.revoke_grant(ADELE[0], ONEDRIVE_APP)
    MicrosoftCredential.objects.filter(user__email="adele@alpha.example").update(access_token_expires_at=timezone.now())


def test_a_revoked_grant_stops_the_scan_shows_reconnect_and_emails_the_user_once(
    m365: Any, adele: Any, adele_client: Any
) -> None:
    _revoke(m365)

    first = deliver(scanned(adele, "a.pdf", b"%PDF-1.4 a"))
    credential = MicrosoftCredential.objects.get(user=adele)

    assert first.status == ScanStatus.NEEDS_RECONNECT and first.next_attempt_at is None
    assert "reconnect" in first.result.lower()
    assert credential.state == CredentialState.NEEDS_RECONNECT
    tokens = m365.control.requests_received("token")
    assert len([t for t in tokens if t["form"].get("grant_type") == "refresh_token"]) == 1
    m365.control.clear_requests()
    assert deliver(first).status == ScanStatus.NEEDS_RECONNECT  # a stray task: no claim, no call
    assert m365.control.requests_received("graph") == [] and m365.control.requests_received("token") == []

    page = adele_client.get(reverse("print_jobs:list")).content.decode()
    assert 'id="onedrive-reconnect"' in page and "Reconnect" in page
    assert reverse("onedrive:cloud_services") in page
    told = [m for m in mail.outbox if m.to == [adele.email]]
    assert len(told) == 1 and "OneDrive" in told[0].subject + told[0].body
    assert "/my-settings/cloud-services/" in told[0].body
    assert not [m for m in mail.outbox if adele.email not in m.to], "the admins are not emailed about her OneDrive"


def test_reconnecting_clears_the_banner_and_try_again_delivers(m365: Any, adele: Any, adele_client: Any) -> None:
    _revoke(m365)
    delivery = deliver(scanned(adele, "a.pdf", b"%PDF-1.4 a"))
    connect(adele_client, m365, delivery.feature, ADELE)

    page = adele_client.get(reverse("print_jobs:list")).content.decode()
    adele_client.post(reverse("onedrive:scan_retry", args=[delivery.pk]))
    delivery = deliver(delivery)

    assert 'id="onedrive-reconnect"' not in page
    assert delivery.status == ScanStatus.DELIVERED
    retried = AuditEvent.objects.get(action="onedrive.scan_retried")
    assert retried.actor == adele, "the page's user, from the request context"


def test_a_403_on_the_files_moves_the_connection_to_needs_reconnect_without_retrying(
    m365: Any, adele: Any, adele_client: Any
) -> None:
    m365.control.inject_fault("graph", status=403)

    (row,) = printed(adele, m365, ADELE[0], "/Recipes.pdf")

    credential = MicrosoftCredential.objects.get(user=adele)
    assert row.status == PrintStatus.NEEDS_RECONNECT and row.next_attempt_at is None
    assert credential.state == CredentialState.NEEDS_RECONNECT and "Reconnect OneDrive" in credential.state_reason
    assert AuditEvent.objects.filter(action="credential.state_changed", details__to="needs_reconnect").exists()


def test_a_refused_access_token_is_renewed_once(m365: Any, adele: Any, adele_client: Any) -> None:
    m365.control.inject_fault("graph", status=401)

    (row,) = printed(adele, m365, ADELE[0], "/Recipes.pdf")

    refreshes = [t for t in m365.control.requests_received("token") if t["form"].get("grant_type") == "refresh_token"]
    assert row.status == PrintStatus.READY and len(refreshes) == 1


def test_a_new_print_request_while_reconnect_is_needed_is_refused(m365: Any, adele: Any, adele_client: Any) -> None:
    MicrosoftCredential.objects.filter(user=adele).update(state=CredentialState.NEEDS_RECONNECT)

    response = adele_client.post(reverse("onedrive:browse"), {"item": ["01ABC"]}, follow=True)

    assert "Connect your OneDrive first" in response.content.decode()
    assert not adele.onedrive_prints.exists()


def test_disconnect_forgets_the_connection(m365: Any, adele: Any, adele_client: Any) -> None:
    credential = MicrosoftCredential.objects.get(user=adele)

    response = adele_client.post(reverse("onedrive:disconnect", args=[credential.owner_id]), follow=True)

    assert "OneDrive disconnected" in response.content.decode()
    assert not MicrosoftCredential.objects.filter(user=adele).exists()
    assert AuditEvent.objects.filter(action="onedrive.disconnected", actor=adele).exists()


def test_with_admin_consent_for_all_users_a_user_is_not_asked_to_consent(m365: Any, feature: Any, adele: Any) -> None:
    """Consents Management: an admin of the directory consented for every user, so the user's sign-in asks none."""
    from tests.onedrive.conftest import client_for

    browser = Browser(m365.http_url)
    page = browser.get(admin_consent_url(ONEDRIVE_APP, CONTOSO, "http://127.0.0.1:8000/integrations/consent/callback/"))
    page = browser.submit(page, form_id="sign-in", login=CONTOSO_ADMIN[0], passwd=CONTOSO_ADMIN[1])
    browser.submit(page, form_id="consent", button="idSIButton9")
    client = client_for(adele)
    start = client.post(reverse("integrations:cloud_services_connect", args=[feature.pk]))

    user_browser = Browser(m365.http_url)
    answer = user_browser.submit(
        user_browser.get(start["Location"]), form_id="sign-in", login=ADELE[0], passwd=ADELE[1]
    )

    assert "consent" not in {form.attrs.get("id") for form in forms_of(answer.text)}
    fields = dict(forms_of(answer.text)[0].fields)
    client.post(reverse("integration_callbacks:select_tenant"), fields, follow=True)
    assert MicrosoftCredential.objects.get(user=adele).state == CredentialState.ACTIVE


def test_the_retry_after_of_a_throttled_upload_is_the_tasks_countdown(m365: Any, adele: Any, adele_client: Any) -> None:
    from unittest import mock

    m365.control.inject_fault("graph", status=503, retry_after=9)
    with mock.patch("onedrive.services.scanning._queue") as queued:
        delivery = deliver(scanned(adele, "a.pdf", b"%PDF-1.4 a"))

    assert delivery.status == ScanStatus.QUEUED
    countdowns = [call.kwargs.get("countdown") for call in queued.call_args_list]
    assert countdowns[-1] == 9.0
    due_now(delivery)
    assert deliver(delivery).status == ScanStatus.DELIVERED


def _health_of(page: str, element_id: str) -> str:
    """The state of the first health (partials/health.html) inside the element of that id."""
    part = page.split(f'id="{element_id}"', 1)[1]
    return part.split('data-health="', 1)[1].split('"', 1)[0]


def test_the_connection_is_a_health_with_the_account_and_since_when(
    m365: Any, feature: Any, adele: Any, adele_client: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    a_week_ago = timezone.now() - timedelta(days=7)
    MicrosoftCredential.objects.filter(user=adele).update(created_at=a_week_ago, connected_at=a_week_ago)
    row = f"connection-{feature.pk}"

    settings_page = adele_client.get(reverse("onedrive:cloud_services")).content.decode()
    jobs_page = adele_client.get(reverse("print_jobs:list")).content.decode()

    assert _health_of(settings_page, row) == "ok" and _health_of(jobs_page, "onedrive-connection") == "ok"
    assert f"Connected as <strong>{ADELE[0]}</strong> since" in settings_page
    assert f'datetime="{a_week_ago.isoformat()}"' in settings_page

    _revoke(m365)
    deliver(scanned(adele, "a.pdf", b"%PDF-1.4 a"))  # the use that finds the grant revoked
    settings_page = adele_client.get(reverse("onedrive:cloud_services")).content.decode()
    jobs_page = adele_client.get(reverse("print_jobs:list")).content.decode()

    assert _health_of(settings_page, row) == "needs_action" and "Needs reconnect" in settings_page
    reason = MicrosoftCredential.objects.get(user=adele).state_reason
    assert reason and reason in settings_page.replace("&#x27;", "'")
    assert _health_of(jobs_page, "onedrive-connection") == "needs_action"
    assert 'class="health-link' not in settings_page.split(f'id="{row}"')[1], "the row's own Reconnect is the fix"

    connect(adele_client, m365, feature, ADELE)  # reconnected: connected since now, not since the first time
    credential = MicrosoftCredential.objects.get(user=adele)
    assert credential.created_at == a_week_ago and credential.connected_at > a_week_ago + timedelta(days=6)
    settings_page = adele_client.get(reverse("onedrive:cloud_services")).content.decode()
    assert _health_of(settings_page, row) == "ok"
    assert f'datetime="{credential.connected_at.isoformat()}"' in settings_page


def test_not_connected_is_off_with_sign_in(m365: Any, feature: Any, adele: Any) -> None:
    from tests.onedrive.conftest import client_for

    client = client_for(adele)

    settings_page = client.get(reverse("onedrive:cloud_services")).content.decode()
    jobs_page = client.get(reverse("print_jobs:list")).content.decode()

    assert _health_of(settings_page, f"connection-{feature.pk}") == "off" and "Not connected" in settings_page
    assert _health_of(jobs_page, "onedrive-connection") == "off" and "Sign in with Microsoft" in jobs_page
    assert "Print from OneDrive" not in jobs_page
