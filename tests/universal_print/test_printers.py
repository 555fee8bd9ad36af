"""The printers as Roger knows them: read again every day with the app's own token (names, places, printers gone),
and per printer the jobs taken today, the last job and the last error, on the admin's page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from print_jobs.models import PrintJob
from tests.factories import UserFactory
from universal_print.choices import JobOutcome
from universal_print.models import Connection, Printer, ReceivedJob

from .conftest import ADELE, CONTOSO, FLOOR_2_MFP, PDF, SECURE_PRINT, take_jobs, tick

pytestmark = [pytest.mark.emulator, pytest.mark.django_db]


def _printer(printer_id: str) -> Printer:
    return Printer.objects.get(printer_id=printer_id)


def _printer_reads(m365) -> list[dict]:
    return [r for r in m365.control.requests_received("graph") if f"/printers/{SECURE_PRINT}" in r["path"]]


def test_the_printers_are_read_again_every_day(m365, taking):
    Connection.objects.filter(pk=taking.pk).update(printers_checked_at=timezone.now() - timedelta(days=1, minutes=1))
    m365.control.update_printer(CONTOSO, SECURE_PRINT, displayName="Secure Print Lobby", location={"city": "Oslo"})
    m365.control.delete_printer(CONTOSO, FLOOR_2_MFP)
    m365.control.clear_requests()

    tick(taking)

    secure, mfp = _printer(SECURE_PRINT), _printer(FLOOR_2_MFP)
    assert (secure.name, secure.location, secure.removed_at) == ("Secure Print Lobby", "Oslo", None)
    assert secure.trigger_id, "a printer read again keeps taking jobs"
    assert mfp.removed_at is not None
    assert Connection.objects.get(pk=taking.pk).printers_checked_at > timezone.now() - timedelta(minutes=1)
    assert _printer_reads(m365), "read with the app's own token: no Printer Administrator signs in every day"

    # Within the day, the minute's looks read the tasks only.
    m365.control.update_printer(CONTOSO, SECURE_PRINT, displayName="Renamed again")
    m365.control.clear_requests()
    tick(taking)
    assert _printer(SECURE_PRINT).name == "Secure Print Lobby"
    assert not _printer_reads(m365)


def test_each_printer_shows_jobs_today_the_last_job_and_the_last_error(m365, taking, adele, admin_a_client):
    m365.control.submit_print_job(CONTOSO, SECURE_PRINT, ADELE, PDF)
    tick(taking)
    m365.control.inject_fault("graph", status=503, count=1)  # reading the job fails once
    assert take_jobs() == ["retrying"]
    ReceivedJob.objects.update(next_attempt_at=timezone.now())
    assert take_jobs() == ["held"]

    row = admin_a_client.get(reverse("universal_print:page")).content.decode()
    row = row.split(f'data-printer-id="{SECURE_PRINT}"', 1)[1].split("</tr>", 1)[0]
    cells = [cell.split(">", 1)[1].split("<", 1)[0].strip() for cell in row.split('<td class="nowrap')[1:]]
    printer = _printer(SECURE_PRINT)
    assert cells[0] == "1", "jobs taken today"
    assert cells[1] == timezone.localtime(printer.jobs.get().received_at).strftime("%Y-%m-%d %H:%M")
    assert "Last error:" in row and printer.last_error and printer.last_error in row.replace("&#x27;", "'")


def test_a_person_is_matched_on_their_microsoft_identity_never_on_a_name(m365, taking, tenant_a):
    # A Roger user with the same email and name as the person who printed, but not linked to that identity.
    UserFactory(tenant=tenant_a, email=ADELE, full_name="Adele Vance")
    m365.control.submit_print_job(CONTOSO, SECURE_PRINT, ADELE, PDF)

    tick(taking)
    assert take_jobs() == ["aborted"]

    assert ReceivedJob.objects.get().outcome == JobOutcome.ABORTED and not PrintJob.objects.exists()
