"""The OneDrive pages as a user sees them, and isolation: nobody sees or uses another user's connection, files,
prints or scans, of their own tenant or another (404), and only a user's own token reaches their drive."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.urls import reverse

from onedrive.choices import PrintedAction, PrintStatus
from onedrive.models import OneDrivePreference
from onedrive.panels import jobs_panel_context
from onedrive.services.connection import preference_save
from onedrive.services.printing import print_work
from print_jobs.choices import JobStatus
from tests.factories import UserFactory
from tests.onedrive.conftest import (
    ADELE,
    ALEX,
    client_for,
    connect,
    deliver,
    item_id,
    onedrive_enabled,
    printed,
    scanned,
)
from tests.ui.live_race import followed, work_after_read

pytestmark = [pytest.mark.emulator, pytest.mark.django_db]


def _text(response: Any) -> str:
    return str(response.content.decode())


def test_cloud_services_shows_the_account_the_preference_and_the_scan_folder(
    m365: Any, adele: Any, adele_client: Any
) -> None:
    page = _text(adele_client.get(reverse("onedrive:cloud_services")))
    assert f"as <strong>{ADELE[0]}</strong> since" in page and "Disconnect" in page
    assert "Leave it!" in page and "Move to &quot;Printed&quot;" in page and "/Scans" in page

    adele_client.post(reverse("onedrive:cloud_services"), {"printed_action": "move"})
    chooser = _text(adele_client.get(reverse("onedrive:scan_folder"), {"path": "/Documents"}))
    adele_client.post(reverse("onedrive:scan_folder"), {"folder": "/Documents/Projects"})
    refused = adele_client.post(reverse("onedrive:scan_folder"), {"folder": "/../etc"}, follow=True)

    preference = OneDrivePreference.objects.get(user=adele)
    assert preference.printed_action == "move" and preference.scan_folder == "/Documents/Projects"
    assert "Projects" in chooser and "Use /Documents for scans" in chooser and "Quarterly report.pdf" not in chooser
    assert "not a folder of your OneDrive" in _text(refused)


def test_browse_folders_first_printable_only_breadcrumbs_pages_and_search(
    m365: Any, adele: Any, adele_client: Any
) -> None:
    m365.control.onedrive_put_file(ADELE[0], "/Documents/tool.exe", size=10)
    url = reverse("onedrive:browse")

    folder = _text(adele_client.get(url, {"path": "/Documents"}))
    found = _text(adele_client.get(url, {"q": "plan"}))

    assert folder.index("Projects") < folder.index("Quarterly report.pdf") < folder.index("Travel policy.pdf")
    assert "tool.exe" not in folder and "1 file on this page cannot be printed" in folder
    assert 'href="?path=/"' in folder and 'aria-current="location">Documents' in folder
    assert "Launch plan.pdf" in found and "/Documents/Projects" in found and "Recipes.pdf" not in found


def test_browse_pages_with_more(m365: Any, adele: Any, adele_client: Any) -> None:
    for n in range(55):
        m365.control.onedrive_put_file(ADELE[0], f"/Many/File {n:02}.pdf", text="x")

    first = _text(adele_client.get(reverse("onedrive:browse"), {"path": "/Many"}))
    more = first.split("more=")[1].split('"')[0].replace("&amp;", "&")
    from urllib.parse import unquote

    second = _text(adele_client.get(reverse("onedrive:browse"), {"path": "/Many", "more": unquote(more)}))
    assert "File 49.pdf" in first and "File 50.pdf" not in first
    assert "File 50.pdf" in second and "File 54.pdf" in second and "More" not in second.split("</table>")[1]


def test_print_selected_then_release_from_the_jobs_page(m365: Any, adele: Any, adele_client: Any) -> None:
    report, travel = (item_id(m365, ADELE[0], f"/Documents/{n}") for n in ("Quarterly report.pdf", "Travel policy.pdf"))

    response = adele_client.post(reverse("onedrive:browse"), {"item": [report, travel, "../bad"]})
    for row in adele.onedrive_prints.all():
        print_work(print_id=row.pk)
    jobs = _text(adele_client.get(reverse("print_jobs:list")))
    job = adele.print_jobs.get(title="Quarterly report.pdf")
    adele_client.post(reverse("print_jobs:release", args=[job.pk]))
    after = _text(adele_client.get(reverse("print_jobs:list")))

    assert response["Location"] == reverse("print_jobs:list") and adele.onedrive_prints.count() == 2
    assert jobs.count("Release") >= 2 and "Print from OneDrive" in jobs and "Scan to OneDrive" in jobs
    job.refresh_from_db()
    assert job.status == JobStatus.PRINTED and "Left in OneDrive." in after


def test_the_status_partial_stops_polling_when_nothing_is_left(m365: Any, adele: Any, adele_client: Any) -> None:
    rows = printed(adele, m365, ADELE[0], "/Recipes.pdf")

    assert rows[0].status == PrintStatus.READY
    finished = adele_client.get(reverse("onedrive:jobs_panel"), {"v": "while-it-printed"})
    assert finished.status_code == 286 and finished["HX-Trigger"] == "print-jobs-changed"  # the Jobs table re-reads
    assert 'hx-trigger="print-jobs-changed from:body"' in adele_client.get(reverse("print_jobs:list")).content.decode()
    shown = jobs_panel_context(adele)["live"].version  # type: ignore[index]
    unchanged = adele_client.get(reverse("onedrive:jobs_panel"), {"v": shown})
    assert unchanged.status_code == 204 and "HX-Trigger" not in unchanged


PANEL_TABLES = ('"onedrive_onedriveprint"', '"onedrive_scandelivery"')


@pytest.mark.parametrize("reads", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("reader", ["the Jobs page", "a poll of the panel"])
def test_a_worker_finishing_while_the_panel_is_read_never_leaves_it_applying_for_good(
    m365: Any, adele: Any, adele_client: Any, reader: str, reads: int
) -> None:
    """After Release the browser reads the Jobs page at once, while the worker deletes the file (within 100 ms):
    its commit can fall between any two of the panel's reads. Whatever the panel showed then, once it polled it
    shows the outcome and stops. (The panel used to show the rows read before the commit, "Applying", with the
    final state read after it: no polling, "Applying" until a reload.)"""
    preference_save(user=adele, printed_action=PrintedAction.DELETE, scan_folder="/Scans")
    (row,) = printed(adele, m365, ADELE[0], "/Documents/Travel policy.pdf")
    assert adele_client.post(reverse("print_jobs:release", args=[row.job_id])).status_code == 302
    row.refresh_from_db()
    assert row.status == PrintStatus.TIDYING

    with work_after_read(PANEL_TABLES, reads, lambda: print_work(print_id=row.pk)) as ran:
        if reader == "the Jobs page":
            first = adele_client.get(reverse("print_jobs:list"))
        else:
            # a panel that polls since an earlier state (another file being fetched, say): it changed since
            first = adele_client.get(reverse("onedrive:jobs_panel"), {"v": "earlier"}, headers={"HX-Request": "true"})
    if not ran:
        print_work(print_id=row.pk)  # the worker finished after the panel was read
    row.refresh_from_db()
    assert row.status == PrintStatus.DELETED
    assert first.status_code in (200, 286), first.status_code

    shown, polling, _ = followed(adele_client, _text(first), "onedrive-panel")
    assert "Deleted from OneDrive" in shown and "Applying your Printed Job preference" not in shown
    assert not polling


def test_a_user_never_sees_or_uses_another_users_connection_or_files(
    m365: Any, feature: Any, adele: Any, adele_client: Any
) -> None:
    alex = UserFactory(tenant=adele.tenant, email="alex@alpha.example")
    alex_client = client_for(alex)
    connect(alex_client, m365, feature, ALEX)
    (adeles,) = printed(adele, m365, ADELE[0], "/Recipes.pdf")
    scan = deliver(scanned(adele, "Private.pdf", b"%PDF-1.4 private"))
    m365.control.clear_requests()

    listing = _text(alex_client.get(reverse("onedrive:browse"), {"path": "/"}))
    alex_client.post(reverse("onedrive:browse"), {"item": [adeles.item_id]})  # Adele's file id, tried by Alex
    (alexs,) = alex.onedrive_prints.all()
    print_work(print_id=alexs.pk)
    alexs.refresh_from_db()

    assert "Recipes.pdf" not in listing and "Documents" in listing
    assert alexs.status == PrintStatus.FAILED and alexs.job is None
    users = {_token_user(r) for r in m365.control.requests_received("graph")}
    assert users == {ALEX[0]}, "only Alex's own token was used for Alex"
    for name, args in (
        ("onedrive:print_retry", [adeles.pk]),
        ("onedrive:scan_retry", [scan.pk]),
    ):
        assert alex_client.post(reverse(name, args=args)).status_code == 404
    assert alex_client.post(reverse("onedrive:disconnect", args=[feature.pk])).status_code == 302
    assert adele.microsoft_credentials.exists(), "Alex's disconnect touched only his own connection"
    assert alex_client.get(reverse("print_jobs:document", args=[adeles.job_id])).status_code == 404
    assert alex_client.post(reverse("print_jobs:release", args=[adeles.job_id])).status_code == 404
    jobs_page = _text(alex_client.get(reverse("print_jobs:list")))
    assert "Private.pdf" not in jobs_page and "Recipes.pdf" not in jobs_page.split('id="jobs"')[0]


def _token_user(request: dict[str, Any]) -> str:
    token = request["headers"]["authorization"].split()[1]
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    return str(claims["upn"])


def test_another_tenants_users_get_404_on_every_onedrive_url(
    m365: Any, adele: Any, adele_client: Any, admin_b: Any
) -> None:
    (row,) = printed(adele, m365, ADELE[0], "/Recipes.pdf")
    scan = deliver(scanned(adele, "Private.pdf", b"%PDF-1.4 private"))
    outsider = client_for(UserFactory(tenant=admin_b.tenant, email="user@bravo.example"))
    admin = client_for(admin_b)

    for client in (outsider, admin):
        for method, name, args in (
            ("get", "onedrive:browse", []),
            ("post", "onedrive:browse", []),
            ("get", "onedrive:scan_folder", []),
            ("post", "onedrive:scan_folder", []),
            ("post", "onedrive:scan", []),
            ("get", "onedrive:jobs_panel", []),
            ("post", "onedrive:print_retry", [row.pk]),
            ("post", "onedrive:scan_retry", [scan.pk]),
            ("post", "onedrive:disconnect", [row.feature_id]),
            ("get", "print_jobs:document", [row.job_id]),
            ("post", "print_jobs:release", [row.job_id]),
        ):
            response = getattr(client, method)(reverse(name, args=args))
            assert response.status_code == 404, (name, response.status_code)
        assert "Quarterly" not in _text(client.get(reverse("onedrive:cloud_services")))


def test_another_tenant_with_its_own_onedrive_sees_only_its_own(
    m365: Any, adele: Any, adele_client: Any, admin_b: Any
) -> None:
    onedrive_enabled(admin_b, directory_id="9e8d7c6b-5a49-4382-a716-f5e4d3c2b1a0")
    megan = UserFactory(tenant=admin_b.tenant, email="megan@bravo.example")
    client = client_for(megan)
    (row,) = printed(adele, m365, ADELE[0], "/Recipes.pdf")

    page = _text(client.get(reverse("onedrive:cloud_services")))
    assert client.post(reverse("onedrive:print_retry", args=[row.pk])).status_code == 404
    assert ADELE[0] not in page and "Sign in with Microsoft" in page
    assert "not connected yet" in _text(client.get(reverse("onedrive:browse")))


def test_plain_pages_need_a_signed_in_tenant_user(client: Any) -> None:
    for name in ("onedrive:cloud_services", "onedrive:browse", "onedrive:jobs_panel"):
        assert client.get(reverse(name)).status_code == 302
