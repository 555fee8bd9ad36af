"""Scan to OneDrive against the emulator: small and large scans, a failed fragment resumed, a taken name renamed,
Retry-After honoured, and an interrupted upload finished without a second file."""

from __future__ import annotations

import hashlib
import random
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone

from onedrive.choices import ScanStatus
from onedrive.services.connection import preference_save
from onedrive.services.scanning import scan_deliver
from tests.onedrive.conftest import ADELE, deliver, due_now, scanned

pytestmark = [pytest.mark.emulator, pytest.mark.django_db]

MB = 1000 * 1000


def scan_bytes(size: int, seed: int = 20) -> bytes:
    return random.Random(seed).randbytes(size)


def scans_in(m365: Any, folder: str = "/Scans") -> dict[str, Any]:
    return {p: f for p, f in m365.control.onedrive_files(ADELE[0]).items() if p.startswith(folder + "/")}


def test_a_scan_lands_in_the_scan_folder_and_our_copy_goes(m365: Any, adele: Any, adele_client: Any) -> None:
    content = b"%PDF-1.4 a scanned page"

    delivery = deliver(scanned(adele, "Invoice.pdf", content))

    assert delivery.status == ScanStatus.DELIVERED and delivery.delivered_name == "Invoice.pdf"
    stored = scans_in(m365)["/Scans/Invoice.pdf"]
    assert stored["sha256"] == hashlib.sha256(content).hexdigest()
    assert not delivery.document and delivery.upload_session == ""


def test_a_name_that_exists_gets_a_new_name_never_an_overwrite(m365: Any, adele: Any, adele_client: Any) -> None:
    m365.control.onedrive_put_file(ADELE[0], "/Scans/Invoice.pdf", text="the older scan")

    delivery = deliver(scanned(adele, "Invoice.pdf", b"%PDF-1.4 the new scan"))

    files = scans_in(m365)
    assert delivery.delivered_name == "Invoice 1.pdf" and delivery.result == "In OneDrive as /Scans/Invoice 1.pdf."
    assert files["/Scans/Invoice.pdf"]["size"] == len("the older scan")
    assert "/Scans/Invoice 1.pdf" in files


def test_the_chosen_scan_folder_is_made_when_missing(m365: Any, adele: Any, adele_client: Any) -> None:
    preference_save(user=adele, printed_action="leave", scan_folder="/Work/Scanned")

    delivery = deliver(scanned(adele, "a.pdf", b"%PDF-1.4 x"))

    assert delivery.status == ScanStatus.DELIVERED and "/Work/Scanned/a.pdf" in m365.control.onedrive_files(ADELE[0])


def test_a_20_mb_scan_resumes_after_a_failed_fragment(m365: Any, adele: Any, adele_client: Any) -> None:
    content = scan_bytes(20 * MB)
    m365.control.inject_fault("onedrive_upload", status=503, retry_after=3, skip=2)  # the third fragment

    delivery = deliver(scanned(adele, "Big scan.pdf", content))
    assert delivery.status == ScanStatus.QUEUED and delivery.attempts == 1 and "Retrying" in delivery.result
    wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert 1 < wait <= 3, "the retry waits for Retry-After"
    due_now(delivery)
    delivery = deliver(delivery)

    assert delivery.status == ScanStatus.DELIVERED
    assert scans_in(m365)["/Scans/Big scan.pdf"]["sha256"] == hashlib.sha256(content).hexdigest()
    ranges = [r["headers"].get("content-range", "") for r in m365.control.requests_received("onedrive_upload")]
    resumed = [r for r in ranges if r.startswith(f"bytes {2 * 16 * 327680}-")]
    assert len(resumed) == 2, "the third fragment was sent again, from where the session stood"
    assert len(m365.control.onedrive_tree(ADELE[0])["upload_sessions"]) == 0


def test_the_upload_session_url_is_stored_encrypted(m365: Any, adele: Any, adele_client: Any) -> None:
    from django.db import connection

    m365.control.inject_fault("onedrive_upload", status=503, retry_after=3, skip=1)
    delivery = deliver(scanned(adele, "Big.pdf", scan_bytes(6 * MB)))
    assert "/onedrive/up/" in delivery.upload_session

    with connection.cursor() as cursor:
        cursor.execute("SELECT upload_session FROM onedrive_scandelivery WHERE id = %s", [delivery.pk])
        (stored,) = cursor.fetchone()
    assert b"/onedrive/up/" not in bytes(stored)


def test_a_last_fragment_whose_answer_was_lost_is_found_not_uploaded_again(
    m365: Any, adele: Any, adele_client: Any
) -> None:
    content = scan_bytes(6 * MB, seed=3)
    m365.control.inject_fault("onedrive_upload", lose_response=True, skip=1)  # the second and last fragment

    delivery = deliver(scanned(adele, "Lost.pdf", content))
    if delivery.status != ScanStatus.DELIVERED:
        due_now(delivery)
        delivery = deliver(delivery)

    assert delivery.status == ScanStatus.DELIVERED and delivery.delivered_name == "Lost.pdf"
    assert [p for p in scans_in(m365) if p.startswith("/Scans/Lost")] == ["/Scans/Lost.pdf"]


def test_a_redelivered_task_of_a_delivered_scan_does_nothing(m365: Any, adele: Any, adele_client: Any) -> None:
    delivery = deliver(scanned(adele, "Once.pdf", b"%PDF-1.4 once"))
    m365.control.clear_requests()

    assert scan_deliver(delivery_id=delivery.pk) is None
    assert m365.control.requests_received("graph") == []


def test_the_management_command_delivers_a_scan(m365: Any, adele: Any, adele_client: Any, tmp_path: Any) -> None:
    path = tmp_path / "From device.pdf"
    path.write_bytes(b"%PDF-1.4 from the device")

    call_command("scan_to_onedrive", "alpha", adele.email, str(path))

    (delivery,) = adele.scan_deliveries.all()
    assert delivery.origin == "command" and deliver(delivery).status == ScanStatus.DELIVERED
    assert "/Scans/From device.pdf" in scans_in(m365)


def test_an_empty_or_too_large_scan_is_refused_with_a_reason(
    m365: Any, adele: Any, adele_client: Any, settings: Any
) -> None:
    from onedrive.errors import OneDriveError
    from onedrive.services.scanning import scan_delivery_create

    settings.ONEDRIVE_SCAN_MAX_BYTES = 10
    with pytest.raises(OneDriveError, match="at most"):
        scan_delivery_create(user=adele, name="big.pdf", document=ContentFile(b"x" * 11, name="big.pdf"))
    with pytest.raises(OneDriveError, match="empty"):
        scan_delivery_create(user=adele, name="none.pdf", document=ContentFile(b"", name="none.pdf"))
    assert not adele.scan_deliveries.exists()
