"""Administration > Universal Print in Chromium, against the emulator and a real Celery worker: a Printer
Administrator turns a printer on, a Contoso user prints to it, and the job is on that user's Jobs page."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from m365_emulator.testing import EmulatorHandle, portal_environment, start_emulator
from print_jobs.models import PrintJob
from tests.conftest import WorkerProcess
from tests.e2e.portal import PAGE_LOAD_MS, sign_in_to_portal
from tests.e2e.test_integrations import _seed_for, sign_in_at_microsoft
from tests.universal_print.conftest import (
    ADELE,
    ADELE_ID,
    ALEX,
    CONTOSO,
    PDF,
    PRINTER_ADMINISTRATOR,
    SECURE_PRINT,
    UP_APP,
    linked_user,
    up_feature_enabled,
)
from universal_print.models import Connection

pytestmark = [pytest.mark.e2e, pytest.mark.emulator, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
WAIT_MS = 60_000  # the worker applies the sign-in and takes the job in the background


@pytest.fixture(scope="module")
def portal_emulator(
    live_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[EmulatorHandle, Path]]:
    state_dir = tmp_path_factory.mktemp("universal-print-emulator")
    seed = _seed_for(live_server.url, state_dir / "seed.json")
    with start_emulator(seed, state_dir) as handle:
        yield handle, seed


@pytest.fixture
def emulator(portal_emulator: tuple[EmulatorHandle, Path], live_server: Any, settings: Any) -> EmulatorHandle:
    handle, seed = portal_emulator
    handle.control.reset()
    env = portal_environment(handle, seed)
    handle.portal_env = env
    settings.PORTAL_BASE_URL = live_server.url
    settings.MICROSOFT_AUTHORITY_HOST = env["MICROSOFT_AUTHORITY_HOST"]
    settings.MICROSOFT_GRAPH_URL = env["MICROSOFT_GRAPH_URL"]
    settings.MICROSOFT_CA_BUNDLE = env["MICROSOFT_CA_BUNDLE"]
    settings.MICROSOFT_APPS = {
        name: {
            **settings.MICROSOFT_APPS[name],
            "client_id": env.get(f"MICROSOFT_APP_{name}_CLIENT_ID", ""),
            "client_secret": env.get(f"MICROSOFT_APP_{name}_CLIENT_SECRET", ""),
        }
        for name in settings.MICROSOFT_APP_NAMES
    }
    return handle


@pytest.fixture
def worker(emulator: EmulatorHandle, celery_worker_env: dict[str, str], tmp_path: Path) -> Iterator[WorkerProcess]:
    process = WorkerProcess({**celery_worker_env, **emulator.portal_env}, tmp_path / "worker.log")
    process.start()
    yield process
    process.stop()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"universal-print-{name}.png"), full_page=True)


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_a_printer_administrator_turns_a_printer_on_and_a_job_reaches_the_users_jobs_page(
    emulator: EmulatorHandle,
    worker: WorkerProcess,
    page: Page,
    live_server: Any,
    admin_a: Any,
    password: str,
) -> None:
    feature = up_feature_enabled(emulator, admin_a)
    linked_user(admin_a.tenant, ADELE, ADELE_ID, full_name="Adele Vance")
    emulator.control.update_user(CONTOSO, ALEX[0], directoryRoles=[PRINTER_ADMINISTRATOR])

    sign_in_to_portal(page, live_server.url, password)
    page.get_by_role("link", name="Universal Print", exact=True).click()
    expect(page.locator("#no-printers")).to_be_visible()
    shot(page, "1-before")

    # A Printer Administrator signs in: Roger lists the printers in the background.
    page.get_by_role("button", name="Sign in as Printer Administrator").click()
    sign_in_at_microsoft(page, ALEX)
    expect(page.locator(".alert-success")).to_contain_text(f"Signed in as {ALEX[0]}", timeout=PAGE_LOAD_MS)
    expect(page.locator(".up-printers")).to_contain_text("Contoso Secure Print", timeout=WAIT_MS)
    shot(page, "2-listed")

    # A queue, then the virtual printer chosen to feed it.
    page.get_by_label("New queue").fill("Follow-Me")
    page.get_by_role("button", name="Add queue").click()
    expect(page.locator(".alert-success")).to_contain_text("Queue “Follow-Me” added.")
    page.get_by_label("Take the jobs of Contoso Secure Print").check()
    page.get_by_label("Queue of Contoso Secure Print").select_option(label="Follow-Me")
    page.get_by_role("button", name="Save choices").click()
    expect(page.locator(".alert-success")).to_contain_text("1 printer change waits for a Printer Administrator")
    expect(page.locator(".printer-state").first).to_contain_text("On once a Printer Administrator signs in")
    shot(page, "3-chosen")

    page.get_by_role("button", name="Sign in and apply").click()
    sign_in_at_microsoft(page, ALEX)
    secure = page.locator("tr", has_text="Contoso Secure Print")
    expect(secure.locator(".printer-state")).to_contain_text("Takes jobs", timeout=WAIT_MS)
    expect(page.locator(".up-results")).to_contain_text("Contoso Secure Print turned on")
    shot(page, "4-taking-jobs")

    [trigger] = emulator.control.print_triggers(CONTOSO)
    assert trigger["printer_id"] == SECURE_PRINT and trigger["app_id"] == UP_APP
    created = [
        r
        for r in emulator.control.requests_received("graph")
        if r["method"] == "POST" and r["path"].endswith("/taskTriggers")
    ]
    claims = _claims(created[0]["headers"]["authorization"].split(" ", 1)[1])
    assert claims["upn"] == ALEX[0] and "Printer.ReadWrite.All" in claims["scp"] and "roles" not in claims

    # Adele prints from Windows; Check now instead of waiting for the next minute.
    emulator.control.submit_print_job(CONTOSO, "Secure Print (Follow-Me)", ADELE, PDF, name="Quarterly report.pdf")
    page.get_by_role("button", name="Check now").click()
    jobs = page.locator(".up-jobs")
    for _ in range(30):
        if jobs.count() and "Held in Roger for release" in jobs.inner_text():
            break
        page.wait_for_timeout(1000)
        page.reload()
    expect(jobs).to_contain_text("Held in Roger for release")
    expect(jobs).to_contain_text("Completed")
    expect(jobs).to_contain_text(ADELE)
    shot(page, "5-received")
    assert PrintJob.objects.get().owner.email == ADELE
    assert Connection.objects.get(feature=feature).poll_status == "ok"

    # Adele signs in to Roger: the job is hers, marked with the printer she chose in Windows.
    page.get_by_role("button", name="Sign out").click()
    sign_in_to_portal(page, live_server.url, password, email=ADELE)
    page.get_by_role("link", name="Jobs", exact=True).first.click()
    row = page.locator("tr", has_text="Quarterly report.pdf")
    expect(row).to_contain_text("Universal Print")
    expect(row).to_contain_text("Secure Print (Follow-Me)")
    expect(row).to_contain_text("Queue: Follow-Me")
    shot(page, "6-users-jobs")
