"""Administration > Universal Print: what the admin sees and may do; another tenant's admin gets 404, a user 403."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from integrations.services.features import feature_disable, feature_enable
from print_jobs.services import queue_create
from tests.factories import IntegrationFactory
from tests.integrations.conftest import connected_automatic, consented, feature_of
from ui.navigation import navigation_for
from universal_print.choices import PrinterState
from universal_print.models import Connection, Printer
from universal_print.services.connections import connection_for

from .conftest import CONTOSO, FLOOR_2_MFP, SECURE_PRINT

pytestmark = pytest.mark.django_db


@pytest.fixture
def feature(admin_a, settings):
    settings.MICROSOFT_APPS = {
        name: {**app, "client_id": app["client_id"] or f"6e1c0a0{i}-7d2b-4c3e-9f10-000000000a0{i}"}
        for i, (name, app) in enumerate(settings.MICROSOFT_APPS.items(), start=1)
    }
    integration = connected_automatic(admin_a)
    feature = consented(feature_of(integration, "universal_print"))
    feature_enable(feature=feature)
    return feature


@pytest.fixture
def connection(feature):
    connection = connection_for(feature)
    for printer_id, name, shares, device in (
        (SECURE_PRINT, "Contoso Secure Print", ["Secure Print (Follow-Me)"], False),
        (FLOOR_2_MFP, "HQ Floor 2 MFP", ["HQ Floor 2 Color"], True),
    ):
        Printer.objects.create(
            tenant=feature.tenant,
            connection=connection,
            printer_id=printer_id,
            name=name,
            share_names=shares,
            has_physical_device=device,
        )
    return connection


def _form_data(connection, **chosen):
    data = {}
    for printer in connection.printers.all():
        feeds, queue = chosen.get(printer.printer_id, (False, ""))
        if feeds:
            data[f"c{connection.pk}-feeds_{printer.pk}"] = "on"
        data[f"c{connection.pk}-queue_{printer.pk}"] = queue
    return data


def test_the_page_explains_pull_printing_and_double_printing(admin_a_client, connection):
    page = admin_a_client.get(reverse("universal_print:page")).content.decode()

    assert "Printer Administrator" in page and "print it a second time" in page and "virtual printer" in page
    assert "Secure Print (Follow-Me)" in page and "HQ Floor 2 MFP" in page
    assert "It prints its own jobs: jobs Roger holds would print twice." in page  # the device's printer only once
    assert page.count("would print twice") == 1


def test_the_page_says_how_to_start_without_a_feature(admin_a_client):
    page = admin_a_client.get(reverse("universal_print:page")).content.decode()
    assert "Not set up yet" in page and reverse("integrations:list") in page


def test_it_is_in_the_navigation_for_admins_and_linked_from_the_feature(rf, admin_a, user_a, admin_a_client, feature):
    from django.urls import resolve

    match = resolve(reverse("universal_print:page"))
    admin_links = [link for group in navigation_for(match=match, is_admin=True) for link in group.links]
    user_links = [link for group in navigation_for(match=match, is_admin=False) for link in group.links]
    assert any(link.label == "Universal Print" and link.current for link in admin_links)
    assert not any(link.label == "Universal Print" for link in user_links)
    integration = admin_a_client.get(reverse("integrations:detail", args=[feature.integration_id])).content.decode()
    assert 'id="manage-universal_print"' in integration and reverse("universal_print:page") in integration


def test_choosing_printers_and_queues(admin_a, admin_a_client, connection):
    queue = queue_create(tenant=admin_a.tenant, name="Follow-Me", actor=admin_a)
    secure = connection.printers.get(printer_id=SECURE_PRINT)

    response = admin_a_client.post(
        reverse("universal_print:printers_save", args=[connection.pk]),
        _form_data(connection, **{SECURE_PRINT: (True, queue.pk)}),
        follow=True,
    )

    secure.refresh_from_db()
    assert secure.feeds_roger and secure.queue == queue and secure.state == PrinterState.TURNING_ON
    assert "1 printer change waits for a Printer Administrator" in response.content.decode()
    chosen = AuditEvent.objects.get(action="universal_print.printers_chosen")
    assert chosen.actor == admin_a, "the page's user, from the request context"
    dashboard = admin_a_client.get(reverse("dashboard")).content.decode()
    assert "1 printer change waits for a Printer Administrator to sign in" in dashboard


def test_a_printer_that_takes_jobs_needs_a_queue(admin_a_client, connection):
    response = admin_a_client.post(
        reverse("universal_print:printers_save", args=[connection.pk]),
        _form_data(connection, **{SECURE_PRINT: (True, "")}),
    )

    assert response.status_code == 400 and "Choose the queue its jobs go to." in response.content.decode()
    assert not connection.printers.filter(feeds_roger=True).exists()


def test_queues_are_added_once_by_name(admin_a_client, admin_a):
    admin_a_client.post(reverse("universal_print:queue_add"), {"name": "Follow-Me"})
    again = admin_a_client.post(reverse("universal_print:queue_add"), {"name": "follow-me"})

    assert again.status_code == 400 and "There is already a queue named" in again.content.decode()
    assert list(admin_a.tenant.print_queues.values_list("name", flat=True)) == ["Follow-Me"]


def test_check_now_makes_the_connection_due(admin_a_client, connection):
    Connection.objects.filter(pk=connection.pk).update(next_attempt_at=None)
    admin_a_client.post(reverse("universal_print:check_now", args=[connection.pk]))
    connection.refresh_from_db()
    assert connection.next_attempt_at is not None


# --- tenant isolation -------------------------------------------------------------------------------------------


def _other_tenants_urls(connection, feature):
    printer = connection.printers.first()
    return [
        (
            "post",
            reverse("universal_print:printers_save", args=[connection.pk]),
            {f"c{connection.pk}-feeds_{printer.pk}": "on"},
        ),
        ("post", reverse("universal_print:check_now", args=[connection.pk]), {}),
        ("get", reverse("universal_print:status", args=[connection.pk]), {}),
        ("post", reverse("universal_print:sign_in", args=[feature.pk]), {}),
    ]


def test_another_tenants_admin_gets_404_everywhere(admin_b_client, connection, feature):
    for method, url, data in _other_tenants_urls(connection, feature):
        response = getattr(admin_b_client, method)(url, data)
        assert response.status_code == 404, url
    page = admin_b_client.get(reverse("universal_print:page")).content.decode()
    assert "Contoso Secure Print" not in page and CONTOSO not in page
    connection.refresh_from_db()
    assert not connection.printers.filter(feeds_roger=True).exists()


def test_a_user_gets_403_everywhere(user_a_client, connection, feature):
    urls = [("get", reverse("universal_print:page"), {}), ("post", reverse("universal_print:queue_add"), {"name": "x"})]
    for method, url, data in [*_other_tenants_urls(connection, feature), *urls]:
        assert getattr(user_a_client, method)(url, data).status_code == 403, url


def test_the_status_follows_a_sign_in_and_then_refreshes_the_printers(admin_a, admin_a_client, connection):
    import re
    from datetime import timedelta

    from django.utils import timezone

    from universal_print.choices import SignInStatus
    from universal_print.models import AdminSignIn

    # The last look was just done (a look due but not done yet is followed too: Check now).
    Connection.objects.filter(pk=connection.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=1))
    sign_in = AdminSignIn.objects.create(tenant=admin_a.tenant, connection=connection, admin=admin_a, account="a@b")
    page = admin_a_client.get(reverse("universal_print:page")).content.decode()
    poll = re.search(r'hx-get="([^"]*/status/\?v=\w+)" hx-trigger="every 2s"', page)
    assert poll and 'hx-trigger="universal-print-changed from:body"' in page
    url = poll.group(1).replace("&amp;", "&")

    assert admin_a_client.get(url).status_code == 204  # nothing new: the fragment stays
    AdminSignIn.objects.filter(pk=sign_in.pk).update(status=SignInStatus.DONE, results=["2 printers listed."])
    done = admin_a_client.get(url)

    assert done.status_code == 286 and done["HX-Trigger"] == "universal-print-changed"
    assert "2 printers listed." in done.content.decode() and "hx-trigger" not in done.content.decode()


# --- the status as a Health ---------------------------------------------------------------------------------------


def _page_health(client, connection) -> str:
    page = client.get(reverse("universal_print:page")).content.decode()
    return page.split(f'id="poll-{connection.pk}"', 1)[1].split('data-health="', 1)[1].split('"', 1)[0]


def test_the_look_at_the_tasks_is_a_health_on_the_page_and_on_the_dashboard_after_a_day(
    admin_a_client, connection, feature
):
    from datetime import timedelta

    from django.utils import timezone

    from universal_print.choices import PollStatus

    now = timezone.now()
    Connection.objects.filter(pk=connection.pk).update(poll_status=PollStatus.OK, last_poll_at=now)
    assert _page_health(admin_a_client, connection) == "ok"

    Connection.objects.filter(pk=connection.pk).update(
        poll_status=PollStatus.RETRYING,
        poll_error="Microsoft Graph answered 503.",
        failing_since=now - timedelta(hours=2),
        next_attempt_at=now + timedelta(minutes=4),
    )
    page = admin_a_client.get(reverse("universal_print:page")).content.decode()
    assert _page_health(admin_a_client, connection) == "retrying"
    assert "Microsoft Graph answered 503." in page and "Retrying by itself since" in page and "next try in" in page
    dashboard = admin_a_client.get(reverse("dashboard")).content.decode()
    assert "Microsoft Graph answered 503." not in dashboard, "a failure that retries waits a day for attention"

    Connection.objects.filter(pk=connection.pk).update(failing_since=now - timedelta(days=1, minutes=1))
    dashboard = admin_a_client.get(reverse("dashboard")).content.decode()
    assert "Universal Print" in dashboard and "Microsoft Graph answered 503." in dashboard

    Connection.objects.filter(pk=connection.pk).update(poll_status=PollStatus.NEEDS_CONSENT, poll_error="No consent.")
    assert _page_health(admin_a_client, connection) == "needs_action"
    page = admin_a_client.get(reverse("universal_print:page")).content.decode()
    assert "Reapply Consents" in page and reverse("integrations:detail", args=[feature.integration_id]) in page

    feature.enabled = False
    feature.save(update_fields=["enabled"])
    assert _page_health(admin_a_client, connection) == "off"


def test_disabled_features_that_never_connected_are_counted_not_shown(admin_a, admin_a_client, feature):
    """A tenant with a thousand integrations gets one card per feature in use, not one per integration."""
    for n in range(3):
        IntegrationFactory(
            tenant=admin_a.tenant, name=f"Other {n}", directory_id=f"0000000{n}-0000-4000-8000-000000000000"
        )

    page = admin_a_client.get(reverse("universal_print:page")).content.decode()

    assert page.count('class="card up-connection"') == 1 and f"<h2>{feature.integration.name}</h2>" in page
    assert "Universal Print is disabled on 3 other integrations." in page
    feature_disable(feature=feature)
    page = admin_a_client.get(reverse("universal_print:page")).content.decode()
    assert page.count('class="card up-connection"') == 1, "it connected: its card stays, saying it is disabled"
    assert "Universal Print is disabled on the integration" in page
    assert "Universal Print is disabled on 3 other integrations." in page


def test_with_every_feature_disabled_the_page_says_how_to_start(admin_a, admin_a_client):
    IntegrationFactory(tenant=admin_a.tenant, name="Unused")

    page = admin_a_client.get(reverse("universal_print:page")).content.decode()

    assert "up-connection" not in page and "Not set up yet" in page
    assert "Universal Print is disabled on 1 integration." in page
