"""Administration > User Synchronization in Chromium, against the emulator and a real Celery worker: Sync now, the
live progress while the pages are read, the status and the run's details; then a change in the directory and a
second sync that shows it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from m365_emulator.testing import EmulatorHandle
from tests.conftest import WorkerProcess
from tests.e2e.portal import PAGE_LOAD_MS, sign_in_to_portal
from tests.e2e.test_universal_print import emulator, portal_emulator  # noqa: F401  (the same emulator fixtures)
from tests.user_sync.conftest import ADELE, CONTOSO, CONTOSO_ENABLED_MEMBERS, sync_feature_enabled
from user_sync.services.runs import settings_for

pytestmark = [pytest.mark.e2e, pytest.mark.emulator, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
WAIT_MS = 90_000


@pytest.fixture
def worker(emulator: EmulatorHandle, celery_worker_env: dict[str, str], tmp_path: Path) -> Iterator[WorkerProcess]:  # noqa: F811
    process = WorkerProcess({**celery_worker_env, **emulator.portal_env}, tmp_path / "worker.log")
    process.start()
    yield process
    process.stop()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"user-sync-{name}.png"), full_page=True)


def test_sync_now_shows_live_progress_then_the_status_and_a_change_synced_again(
    emulator: EmulatorHandle,  # noqa: F811
    worker: WorkerProcess,
    page: Page,
    live_server: Any,
    admin_a: Any,
    password: str,
) -> None:
    feature = sync_feature_enabled(emulator, admin_a)
    connector = settings_for(feature)
    connector.alias_formats, connector.card_attribute = "%givenName%.%surname%", "extensionAttribute1"
    connector.save()
    emulator.control.set_graph_options(delta_page_size=3)  # a dozen pages, each answered slowly: progress to see
    emulator.control.inject_fault("graph", latency_ms=400, count=100)

    sign_in_to_portal(page, live_server.url, password)
    page.get_by_role("link", name="User Synchronization", exact=True).click()
    expect(page.get_by_role("heading", name=feature.integration.name)).to_be_visible(timeout=PAGE_LOAD_MS)
    shot(page, "1-settings")

    page.get_by_role("button", name="Sync now").click()
    expect(page.locator(".alert-success")).to_contain_text("Synchronization started")
    progress = page.locator("[id^=progress-]")
    expect(progress).to_contain_text("Pages read", timeout=PAGE_LOAD_MS)
    pages = page.locator("[id^=pages-]")
    expect(pages).not_to_have_text("0", timeout=WAIT_MS)  # the fragment follows the run without a reload
    shot(page, "2-progress")
    counts = page.locator("[id^=last-counts-]")
    expect(counts).to_contain_text(f"{CONTOSO_ENABLED_MEMBERS} created", timeout=WAIT_MS)
    expect(progress).to_have_count(0)
    shot(page, "3-status")
    assert User.objects.filter(directory_tenant_id=CONTOSO).count() == CONTOSO_ENABLED_MEMBERS

    # Administration > Users: Adele, synchronized from Contoso, with her alias and card.
    page.get_by_role("link", name="Users", exact=True).click()
    page.get_by_label("Search by name, email or alias").fill("adele.v")
    page.get_by_role("button", name="Search").click()
    adele = page.locator("#users tbody tr", has_text=ADELE)
    expect(adele).to_contain_text("Synchronized", timeout=PAGE_LOAD_MS)
    expect(adele).to_contain_text("adele.vance")
    expect(adele).to_contain_text("CARD-100001")
    shot(page, "3b-users")
    page.get_by_role("link", name="User Synchronization", exact=True).click()

    emulator.control.clear_faults()
    emulator.control.update_user(CONTOSO, ADELE, displayName="Adele Vance-Smith")
    page.get_by_role("button", name="Sync now").click()
    expect(counts).to_contain_text("0 created, 1 updated", timeout=WAIT_MS)
    page.locator("[id^=history-] a").first.click()
    expect(page.locator("#changes")).to_contain_text("Adele Vance-Smith", timeout=PAGE_LOAD_MS)
    expect(page.locator("#changes")).to_contain_text("name “Adele Vance” → “Adele Vance-Smith”")
    shot(page, "4-run")
