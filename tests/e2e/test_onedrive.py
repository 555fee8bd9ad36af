"""OneDrive in Chromium: connect at the emulator's page, browse, print two files, release one and see the Printed
Job preference applied in the emulator's drive; scan 20 MB with a failed fragment and a taken name; a revoked grant
shows Reconnect. A real Celery worker does the background work."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from credentials.models import MicrosoftCredential
from m365_emulator.testing import EmulatorHandle, portal_environment
from onedrive.models import OneDrivePrint, ScanDelivery
from tests.e2e.portal import PAGE_LOAD_MS, sign_in_to_portal
from tests.e2e.test_integrations import (  # the browser tests' own emulator, seeded with the live server's URIs
    SCREENSHOTS,
    emulator,
    portal_emulator,
    sign_in_at_microsoft,
)
from tests.factories import UserFactory
from tests.onedrive.conftest import ADELE, ONEDRIVE_APP, onedrive_enabled

__all__ = ["emulator", "portal_emulator"]  # fixtures used by name

pytestmark = [pytest.mark.e2e, pytest.mark.emulator, pytest.mark.django_db(transaction=True)]

WORKING_MS = 60_000


@pytest.fixture
def celery_worker_env(
    celery_worker_env: dict[str, str], portal_emulator: tuple[EmulatorHandle, Path], live_server: Any
) -> dict[str, str]:
    handle, seed = portal_emulator
    return {**celery_worker_env, **portal_environment(handle, seed), "PORTAL_BASE_URL": live_server.url}


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"onedrive-{name}.png"), full_page=True)


def _adele(admin: Any) -> Any:
    onedrive_enabled(admin)
    return UserFactory(tenant=admin.tenant, email="adele@alpha.example", full_name="Adele Vance")


def _connect(page: Page, base_url: str, user: Any, password: str) -> None:
    sign_in_to_portal(page, base_url, password, email=user.email)
    page.get_by_role("link", name="Cloud Services").click()
    page.get_by_role("button", name="Sign in with Microsoft").click()
    sign_in_at_microsoft(page, ADELE)
    page.locator("#idSIButton9").click()  # Adele consents to Roger for OneDrive herself (no admin consent here)
    expect(page.locator(".alert-success")).to_contain_text(f"OneDrive connected as {ADELE[0]}")


def test_connect_browse_print_two_release_one_and_scan_20_mb(
    emulator: EmulatorHandle,
    celery_worker: Any,
    page: Page,
    live_server: Any,
    admin_a: Any,
    password: str,
    tmp_path: Path,
) -> None:
    adele = _adele(admin_a)
    _connect(page, live_server.url, adele, password)
    expect(page.locator("#connections")).to_contain_text("Connected")
    page.get_by_label('Move to "Printed"').check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".alert-success")).to_contain_text("Printed Job preference saved.")
    shot(page, "1-cloud-services")

    page.get_by_role("link", name="Jobs", exact=True).click()
    page.get_by_role("link", name="Print from OneDrive").click()
    expect(page.locator("#items")).to_contain_text("Documents")
    page.get_by_role("link", name="Documents").click()
    expect(page.get_by_role("navigation", name="Breadcrumbs")).to_contain_text("My files")
    page.get_by_label("Choose Quarterly report.pdf").check()
    page.get_by_label("Choose Travel policy.pdf").check()
    shot(page, "2-browse")
    page.get_by_role("button", name="Print selected").click()
    expect(page.locator(".alert-success")).to_contain_text("2 files from OneDrive")
    waiting = page.locator("#onedrive-prints tr", has_text="Waiting to be printed")
    expect(waiting).to_have_count(2, timeout=WORKING_MS)  # the panel refreshes itself while they are fetched
    page.reload()
    shot(page, "3-jobs")

    page.get_by_role("button", name="Release Quarterly report.pdf").click()
    # no reload: the panel follows the worker by itself (it may be done already when the page is read)
    expect(page.locator("#onedrive-prints")).to_contain_text('Moved to "Printed"', timeout=WORKING_MS)
    files = emulator.control.onedrive_files(ADELE[0])
    assert "/Printed/Quarterly report.pdf" in files and "/Documents/Quarterly report.pdf" not in files
    assert "/Documents/Travel policy.pdf" in files, "the file not printed stays where it is"
    page.reload()
    expect(page.locator("#jobs")).to_contain_text("Moved to /Printed/Quarterly report.pdf.")
    shot(page, "4-released")

    emulator.control.onedrive_put_file(ADELE[0], "/Scans/Scan.pdf", text="an earlier scan")
    emulator.control.inject_fault("onedrive_upload", status=503, retry_after=1, skip=1)  # the second fragment
    scan = tmp_path / "Scan.pdf"
    content = random.Random(20).randbytes(20 * 1000 * 1000)
    scan.write_bytes(content)
    page.locator("#scan-document").set_input_files(str(scan))
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".alert-success")).to_contain_text("on its way to /Scans")
    expect(page.locator("#onedrive-scans")).to_contain_text("In OneDrive as /Scans/Scan 1.pdf.", timeout=WORKING_MS)
    shot(page, "5-scanned")

    stored = emulator.control.onedrive_files(ADELE[0])
    assert stored["/Scans/Scan 1.pdf"]["sha256"] == hashlib.sha256(content).hexdigest()
    assert stored["/Scans/Scan.pdf"]["size"] == len("an earlier scan"), "never an overwrite"
    assert ScanDelivery.objects.get().attempts == 0
    statuses = [r["status"] for r in emulator.control.requests_received("onedrive_upload") if r["method"] == "PUT"]
    assert 503 in statuses and statuses[-1] in (200, 201)
    assert OneDrivePrint.objects.filter(status="moved").count() == 1


def _print_and_release(page: Page, folder: str | None, name: str) -> None:
    page.get_by_role("link", name="Jobs", exact=True).click()
    page.get_by_role("link", name="Print from OneDrive").click()
    if folder:
        page.get_by_role("link", name=folder).click()
    page.get_by_label(f"Choose {name}").check()
    page.get_by_role("button", name="Print selected").click()
    expect(page.locator("#onedrive-prints tr", has_text=name)).to_contain_text(
        "Waiting to be printed", timeout=WORKING_MS
    )
    page.reload()  # the Jobs table shows the new job's Release button
    page.get_by_role("button", name=f"Release {name}").click()


def test_delete_and_leave_it_are_applied_in_the_drive(
    emulator: EmulatorHandle,
    celery_worker: Any,
    page: Page,
    live_server: Any,
    admin_a: Any,
    password: str,
) -> None:
    adele = _adele(admin_a)
    _connect(page, live_server.url, adele, password)
    expect(page.locator("#connections .health")).to_have_attribute("data-health", "ok")
    expect(page.locator("#connections")).to_contain_text(f"Connected as {ADELE[0]} since")

    page.get_by_label("Delete").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".alert-success")).to_contain_text("Printed Job preference saved.")
    _print_and_release(page, "Documents", "Travel policy.pdf")
    # no reload: the panel follows the worker by itself
    expect(page.locator("#onedrive-prints")).to_contain_text("Deleted from OneDrive", timeout=WORKING_MS)
    assert "/Documents/Travel policy.pdf" not in emulator.control.onedrive_files(ADELE[0])
    shot(page, "7-deleted")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Cloud Services").click()
    page.get_by_label("Leave it!").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".alert-success")).to_contain_text("Printed Job preference saved.")
    _print_and_release(page, None, "Recipes.pdf")
    expect(page.locator("#onedrive-prints tr", has_text="Recipes.pdf")).to_contain_text(
        "Left in OneDrive", timeout=WORKING_MS
    )
    expect(page.locator("#onedrive-connection .health")).to_have_attribute("data-health", "ok")
    files = emulator.control.onedrive_files(ADELE[0])
    assert "/Recipes.pdf" in files and not any(path.startswith("/Printed/") for path in files)
    shot(page, "8-left")
    assert set(OneDrivePrint.objects.values_list("item_name", "status")) == {
        ("Travel policy.pdf", "deleted"),
        ("Recipes.pdf", "left"),
    }


def test_a_revoked_grant_shows_reconnect_and_stops(
    emulator: EmulatorHandle,
    celery_worker: Any,
    page: Page,
    live_server: Any,
    admin_a: Any,
    password: str,
    tmp_path: Path,
) -> None:
    from django.utils import timezone

    adele = _adele(admin_a)
    _connect(page, live_server.url, adele, password)
    emulator.control.revoke_grant(ADELE[0], ONEDRIVE_APP)  # a password change at Microsoft, say
    MicrosoftCredential.objects.filter(user=adele).update(access_token_expires_at=timezone.now())  # an hour later

    page.get_by_role("link", name="Jobs", exact=True).click()
    scan = tmp_path / "Receipt.pdf"
    scan.write_bytes(b"%PDF-1.4 a receipt")
    page.locator("#scan-document").set_input_files(str(scan))
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#onedrive-scans")).to_contain_text("Needs a OneDrive reconnect", timeout=WORKING_MS)
    page.reload()
    expect(page.locator("#onedrive-reconnect")).to_contain_text("Reconnect", timeout=PAGE_LOAD_MS)
    shot(page, "6-reconnect")

    tokens = len(emulator.control.requests_received("token"))
    assert ScanDelivery.objects.get().next_attempt_at is None, "nothing retries"
    assert len(emulator.control.requests_received("token")) == tokens
    page.locator("#onedrive-reconnect").get_by_role("link", name="Reconnect").click()
    page.get_by_role("button", name="Reconnect").click()
    expect(page.locator(".alert-success, #login").first).to_be_visible(timeout=PAGE_LOAD_MS)
    if page.locator("#login").count():  # the emulator may still have her signed in, as Microsoft would
        sign_in_at_microsoft(page, ADELE)
    expect(page.locator(".alert-success")).to_contain_text("OneDrive connected", timeout=PAGE_LOAD_MS)
    expect(page.locator("#onedrive-reconnect")).to_have_count(0)
