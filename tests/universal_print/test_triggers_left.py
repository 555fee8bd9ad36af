"""Triggers are never left behind silently: disabling the feature, deleting the integration or losing the consent
tells the admins (the dashboard and one email) which printers' jobs now wait in Universal Print."""

from __future__ import annotations

import pytest
from django.urls import reverse

from integrations.choices import ConsentState
from integrations.models import Feature
from notifications.models import AdminNotification
from print_jobs.models import PrintJob
from tests.security.conftest import at_microsoft, get_consent_answer
from universal_print.choices import PollStatus
from universal_print.models import Connection, ReceivedJob

from .conftest import ADELE, CONTOSO, CONTOSO_ADMIN, PDF, SECURE_PRINT, UP_APP, printer_admin_signs_in, take_jobs, tick

pytestmark = [pytest.mark.emulator, pytest.mark.django_db]


def _warned(tenant) -> list[AdminNotification]:
    return list(AdminNotification.objects.filter(tenant=tenant, key__startswith="universal_print:"))


def test_disabling_the_feature_warns_about_the_printers_left_on(
    m365, taking, up_feature, admin_a, admin_a_client, mailoutbox
):
    response = admin_a_client.post(
        reverse("integrations:feature_disable", args=[up_feature.integration_id, up_feature.pk]), follow=True
    )

    page = response.content.decode()
    assert "Universal Print disabled" in page
    assert "jobs sent to “Secure Print (Follow-Me)” now wait in Universal Print and are not printed" in page
    [told] = _warned(admin_a.tenant)
    assert "Secure Print (Follow-Me)" in told.body and told.sent_at is not None
    [email] = [m for m in mailoutbox if m.subject == told.subject]
    assert email.to == [admin_a.email] and "Secure Print (Follow-Me)" in email.body
    dashboard = admin_a_client.get(reverse("dashboard")).content.decode()
    assert "Jobs sent to Secure Print (Follow-Me) wait in Universal Print and are not printed" in dashboard
    # The connection stops calling Microsoft; the jobs wait.
    m365.control.submit_print_job(CONTOSO, SECURE_PRINT, ADELE, PDF)
    m365.control.clear_requests()
    assert tick(taking) == PollStatus.OFF
    assert m365.control.requests_received("graph") == [] and not ReceivedJob.objects.exists()


def test_turning_the_printers_off_after_disabling_clears_the_warning(
    m365, taking, up_feature, admin_a, admin_a_client, printer_admin
):
    admin_a_client.post(reverse("integrations:feature_disable", args=[up_feature.integration_id, up_feature.pk]))
    taking.printers.update(feeds_roger=False)

    printer_admin_signs_in(m365, admin_a_client, up_feature, printer_admin)
    tick(taking)

    assert m365.control.print_triggers(CONTOSO) == [] and _warned(admin_a.tenant) == []
    assert "are not printed" not in admin_a_client.get(reverse("dashboard")).content.decode()


def test_enabling_again_takes_the_waiting_jobs(m365, taking, up_feature, adele, admin_a, admin_a_client):
    admin_a_client.post(reverse("integrations:feature_disable", args=[up_feature.integration_id, up_feature.pk]))
    m365.control.submit_print_job(CONTOSO, SECURE_PRINT, ADELE, PDF)

    admin_a_client.post(reverse("integrations:feature_enable", args=[up_feature.integration_id, up_feature.pk]))
    tick(taking)
    take_jobs()

    assert PrintJob.objects.filter(owner=adele).count() == 1 and _warned(admin_a.tenant) == []


def test_deleting_the_integration_says_so_first_and_warns_after(m365, taking, up_feature, admin_a, admin_a_client):
    confirm = admin_a_client.get(reverse("integrations:delete", args=[up_feature.integration_id])).content.decode()
    assert "Universal Print takes the jobs of “Secure Print (Follow-Me)”" in confirm

    done = admin_a_client.post(reverse("integrations:delete", args=[up_feature.integration_id]), follow=True)

    assert "the integration that connected these printers was deleted" in done.content.decode()
    connection = Connection.objects.get(pk=taking.pk)
    assert connection.feature is None and connection.printers.exclude(trigger_id="").count() == 1
    assert len(_warned(admin_a.tenant)) == 1
    page = admin_a_client.get(reverse("universal_print:page")).content.decode()
    assert "A deleted integration" in page and "wait in Universal Print and are not printed" in page


def test_a_revoked_consent_needs_consent_and_stops_calling(m365, taking, up_feature, adele, admin_a, admin_a_client):
    m365.control.remove_consent(UP_APP, CONTOSO)
    m365.control.revoke_access_tokens(CONTOSO, UP_APP)
    m365.control.submit_print_job(CONTOSO, SECURE_PRINT, ADELE, PDF)

    assert tick(taking) == PollStatus.NEEDS_CONSENT

    feature = Feature.objects.get(pk=up_feature.pk)
    assert feature.consent_state == ConsentState.NEEDS_CONSENT and "Reapply Consents" in feature.consent_reason
    assert len(_warned(admin_a.tenant)) == 1
    # Not failing every minute: the next looks call nobody until consent is granted again.
    m365.control.clear_requests()
    assert tick(taking) == PollStatus.NEEDS_CONSENT and tick(taking) == PollStatus.NEEDS_CONSENT
    assert m365.control.requests_received("graph") == [] and m365.control.requests_received("token") == []
    page = admin_a_client.get(reverse("universal_print:page")).content.decode()
    assert "Reapply Consents" in page and "is missing in the Microsoft directory" in page

    # Reapply Consents puts it back: the waiting job is taken and the warning goes.
    start = admin_a_client.post(reverse("integrations:reapply_start", args=[up_feature.integration_id]))
    answer = at_microsoft(m365, start["Location"], CONTOSO_ADMIN)
    get_consent_answer(admin_a_client, answer)
    assert Feature.objects.get(pk=up_feature.pk).consent_state == ConsentState.GRANTED
    assert tick(taking) == PollStatus.OK and take_jobs() == ["held"]
    assert PrintJob.objects.filter(owner=adele).count() == 1 and _warned(admin_a.tenant) == []
