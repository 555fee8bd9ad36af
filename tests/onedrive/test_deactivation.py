"""A deactivated user's OneDrive stops (accounts.signals.user_deactivated): the connection is forgotten, the waiting
OneDrive work stops instead of retrying and never calls Microsoft, and the print job waiting to be printed is held;
a reactivation gives the job back, and the user connects again to try the rest."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from accounts.services import user_deactivate, user_reactivate
from credentials.models import MicrosoftCredential
from onedrive.choices import PrintStatus, ScanStatus
from onedrive.services.connection import DEACTIVATED
from onedrive.services.printing import print_request_create, print_work
from print_jobs.choices import JobStatus
from print_jobs.services import print_job_release
from tests.onedrive.conftest import ADELE, client_for, deliver, item_id, printed, scanned

pytestmark = [pytest.mark.emulator, pytest.mark.django_db]


def test_deactivating_a_user_stops_their_onedrive_and_holds_their_waiting_job(
    m365: Any, admin_a: Any, adele: Any, adele_client: Any
) -> None:
    (fetched,) = printed(adele, m365, ADELE[0], "/Documents/Quarterly report.pdf")
    (fetching,) = print_request_create(user=adele, items=[(item_id(m365, ADELE[0], "/Recipes.pdf"), "Recipes.pdf")])
    scan = scanned(adele, "a.pdf", b"%PDF-1.4 a")
    assert fetched.status == PrintStatus.READY and fetched.job is not None
    m365.control.clear_requests()

    assert user_deactivate(adele, actor=admin_a, reason="Left the company")

    fetched.refresh_from_db()
    assert not MicrosoftCredential.objects.filter(user=adele).exists()
    assert fetched.job is not None and fetched.job.status == JobStatus.HELD
    assert not print_job_release(job=fetched.job, actor=admin_a), "a held job is not printed"
    for row, stopped in ((fetching, PrintStatus.NEEDS_RECONNECT), (scan, ScanStatus.NEEDS_RECONNECT)):
        row.refresh_from_db()
        assert (row.status, row.result, row.next_attempt_at) == (stopped, DEACTIVATED, None)
    assert print_work(print_id=fetching.pk) is None and deliver(scan).status == ScanStatus.NEEDS_RECONNECT
    assert m365.control.requests_received("graph") == [] and m365.control.requests_received("token") == []

    assert user_reactivate(adele, actor=admin_a)
    fetched.job.refresh_from_db()
    assert fetched.job.status == JobStatus.READY
    page = client_for(adele).get(reverse("print_jobs:list")).content.decode()
    assert "Not connected" in page and "Sign in with Microsoft" in page and DEACTIVATED in page
    assert page.count("Try again") == 2, "the stopped work waits for her to connect again"


def test_another_users_onedrive_goes_on(m365: Any, admin_a: Any, adele: Any, adele_client: Any) -> None:
    from tests.factories import UserFactory

    colleague = UserFactory(tenant=adele.tenant)
    scan = scanned(adele, "a.pdf", b"%PDF-1.4 a")

    user_deactivate(colleague, actor=admin_a, reason="Left the company")

    assert MicrosoftCredential.objects.filter(user=adele).exists()
    assert deliver(scan).status == ScanStatus.DELIVERED
