"""Universal Print against the emulator: a Printer Administrator's sign-in binds only the browser that started it,
and a job's owner is found only among the Roger tenant's own users."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from credentials.models import MicrosoftCredential
from print_jobs.models import PrintJob
from tests.security.conftest import at_microsoft, page_text, post_sign_in_answer
from tests.universal_print.conftest import (
    ADELE,
    ADELE_ID,
    CONTOSO,
    CONTOSO_ADMIN,
    PDF,
    SECURE_PRINT,
    linked_user,
    printers_taking_jobs,
    take_jobs,
    tick,
    up_feature_enabled,
)
from universal_print.choices import JobOutcome
from universal_print.models import AdminSignIn, ReceivedJob

pytestmark = [pytest.mark.emulator, pytest.mark.django_db]


def test_a_printer_administrators_answer_finished_in_another_browser_changes_nothing(
    m365: Any, admin_a: Any, admin_a_client: Client
) -> None:
    feature = up_feature_enabled(m365, admin_a)
    start = admin_a_client.post(reverse("universal_print:sign_in", args=[feature.pk]))
    answer = at_microsoft(m365, start["Location"], CONTOSO_ADMIN)
    elsewhere = Client()
    elsewhere.force_login(admin_a)  # the same admin, another browser

    page = page_text(post_sign_in_answer(elsewhere, answer))

    assert "was not started in this browser" in page and "nothing was changed" in page
    assert not AdminSignIn.objects.exists()
    assert not MicrosoftCredential.objects.filter(owner_type="universal_print_sign_in").exists()
    assert m365.control.print_triggers(CONTOSO) == []


def test_a_job_goes_to_no_user_of_another_roger_tenant(
    m365: Any, admin_a: Any, admin_a_client: Client, tenant_b: Any
) -> None:
    # Another Roger customer links the same Contoso identity to one of its users: it is not this tenant's user.
    elsewhere = linked_user(tenant_b, ADELE, ADELE_ID)
    feature = up_feature_enabled(m365, admin_a)
    connection = printers_taking_jobs(m365, admin_a_client, feature, CONTOSO_ADMIN, SECURE_PRINT)
    m365.control.submit_print_job(CONTOSO, SECURE_PRINT, ADELE, PDF)

    tick(connection)
    take_jobs()

    assert ReceivedJob.objects.get().outcome == JobOutcome.ABORTED
    assert not PrintJob.objects.filter(owner=elsewhere).exists() and not PrintJob.objects.exists()
