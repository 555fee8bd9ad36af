"""A real Celery worker on Redis delivers a 20 MB scan; killed mid-upload, the next worker resumes the saved
upload session and the file is in OneDrive once."""

from __future__ import annotations

import hashlib
import random
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from onedrive.choices import ScanStatus
from onedrive.models import ScanDelivery
from onedrive.services.scanning import scan_delivery_create
from tests.conftest import wait_until
from tests.onedrive.conftest import ADELE, client_for, connect, onedrive_enabled

pytestmark = [pytest.mark.emulator, pytest.mark.django_db(transaction=True)]

LEASE_SECONDS = 3


@pytest.fixture
def celery_worker_env(celery_worker_env: dict[str, str]) -> dict[str, str]:
    # A short lease, so that the killed worker's upload is taken up again within the test.
    return {**celery_worker_env, "ONEDRIVE_WORK_LEASE_SECONDS": str(LEASE_SECONDS)}


def _status(delivery: ScanDelivery, status: str) -> bool:
    delivery.refresh_from_db()
    return delivery.status == status


def _received(m365: Any) -> int:
    sessions = m365.control.onedrive_tree(ADELE[0])["upload_sessions"]
    return int(sessions[0]["received"]) if sessions else 0


def test_a_worker_killed_mid_upload_finishes_without_a_duplicate(
    m365: Any, celery_worker: Any, admin_a: Any, tenant_a: Any, settings: Any
) -> None:
    from tests.factories import UserFactory

    adele = UserFactory(tenant=tenant_a, email="adele@alpha.example")
    connect(client_for(adele), m365, onedrive_enabled(admin_a), ADELE)
    content = random.Random(7).randbytes(20 * 1000 * 1000)
    m365.control.inject_fault("onedrive_upload", latency_ms=1500, count=3)  # slow fragments: time to kill it

    delivery = scan_delivery_create(user=adele, name="Big scan.pdf", document=ContentFile(content, name="x.pdf"))
    wait_until(lambda: _received(m365) > 0, timeout=60, message="the first fragment in OneDrive")
    celery_worker.kill()

    delivery.refresh_from_db()
    assert delivery.status == ScanStatus.UPLOADING and "/onedrive/up/" in delivery.upload_session
    stopped_at = _received(m365)
    assert 0 < stopped_at < len(content)
    wait_until(lambda: ScanDelivery.objects.get(pk=delivery.pk).lease_until < timezone.now(), message="the lease")
    celery_worker.start()

    wait_until(lambda: _status(delivery, ScanStatus.DELIVERED), timeout=90, message="the delivery")
    files = {p: f for p, f in m365.control.onedrive_files(ADELE[0]).items() if p.startswith("/Scans/")}
    assert list(files) == ["/Scans/Big scan.pdf"], "one file, no 'Big scan 1.pdf'"
    assert files["/Scans/Big scan.pdf"]["sha256"] == hashlib.sha256(content).hexdigest()
    first_ranges = [
        r["headers"].get("content-range", "")
        for r in m365.control.requests_received("onedrive_upload")
        if r["method"] == "PUT"
    ]
    assert not [r for r in first_ranges[1:] if r.startswith("bytes 0-") and r != first_ranges[0]], (
        "the second worker resumed the session instead of starting again"
    )
    assert "Sweep: queued 1 onedrive.scan" in celery_worker.log()
