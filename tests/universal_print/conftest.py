"""Universal Print in a known state against the emulator: a Contoso integration whose Universal Print feature has
the operator app's admin consent (granted at the emulator's page) and is enabled, Contoso people in the Roger
tenant, and a Printer Administrator's sign-in driven through the portal's own pages."""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from integrations.models import Feature
from integrations.services.features import feature_enable
from integrations.services.tokens import feature_app_token_acquire, feature_app_tokens_save
from print_jobs.services import queue_create
from tests.factories import UserFactory
from tests.integrations.conftest import connected_automatic, consented, feature_of
from tests.security.conftest import admin_consent_url, at_microsoft, post_sign_in_answer
from universal_print.models import Connection, Printer
from universal_print.services.ticks import connection_tick

CONTOSO = "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
FABRIKAM = "9e8d7c6b-5a49-4382-a716-f5e4d3c2b1a0"
UP_APP = "6e1c0a03-7d2b-4c3e-9f10-000000000a03"
OTHER_PRINT_APP = "7e57000a-0000-4000-8000-00000000000a"
SECURE_PRINT = "a1b2c3d4-2001-4000-8000-00000000c201"
FLOOR_2_MFP = "a1b2c3d4-2002-4000-8000-00000000c202"
ADELE_ID = "a1b2c3d4-0002-4000-8000-00000000c002"
ADELE = "adele.vance@contoso.onmicrosoft.com"
ALEX = ("alex.wilber@contoso.onmicrosoft.com", "Contoso-User-1")
CONTOSO_ADMIN = ("admin@contoso.onmicrosoft.com", "Contoso-Admin-1")
FABRIKAM_ADMIN = ("admin@fabrikam.onmicrosoft.com", "Fabrikam-Admin-1")
PRINTER_ADMINISTRATOR = "644ef478-e28f-4e28-b9dc-3fdde9aa0b1f"  # the directory role's template id
CONSENT_REDIRECT = "http://127.0.0.1:8000/integrations/consent/callback/"
PDF = b"%PDF-1.7\n" + os.urandom(200_000) + b"\n%%EOF\n"


def linked_user(tenant: Any, email: str, object_id: str, directory_id: str = CONTOSO, **fields: Any) -> Any:
    """A Roger user linked to a directory identity, as User Synchronization or Login with Microsoft leave it."""
    return UserFactory(
        tenant=tenant, email=email, directory_tenant_id=directory_id, directory_object_id=object_id, **fields
    )


def up_feature_enabled(m365: Any, admin: Any) -> Feature:
    """Create automatically, connected to Contoso, the Universal Print app admin-consented there (at the
    emulator's consent page, as a Global Administrator would), its app token stored, the feature enabled."""
    integration = connected_automatic(admin)
    feature = consented(feature_of(integration, "universal_print"))
    at_microsoft(m365, admin_consent_url(UP_APP, CONTOSO, CONSENT_REDIRECT), CONTOSO_ADMIN)
    grant = feature_app_token_acquire(app=feature.app_registration, directory_id=CONTOSO)
    feature_app_tokens_save(features=[feature], grant=grant, actor=admin)
    feature_enable(feature=feature)
    return Feature.objects.select_related("integration", "app_registration").get(pk=feature.pk)


@pytest.fixture
def up_feature(m365: Any, admin_a: Any) -> Feature:
    return up_feature_enabled(m365, admin_a)


@pytest.fixture
def adele(tenant_a: Any) -> Any:
    return linked_user(tenant_a, ADELE, ADELE_ID, full_name="Adele Vance")


@pytest.fixture
def printer_admin(m365: Any) -> tuple[str, str]:
    """Alex Wilber, made a Printer Administrator of Contoso (and nothing more)."""
    m365.control.update_user(CONTOSO, ALEX[0], directoryRoles=[PRINTER_ADMINISTRATOR])
    return ALEX


def printer_admin_signs_in(m365: Any, client: Client, feature: Feature, account: tuple[str, str]) -> Any:
    """The admin clicks the sign-in button on the Universal Print page, signs in at Microsoft as `account`,
    and Microsoft's answer comes back to the portal in the same browser (`client`): the final page."""
    start = client.post(reverse("universal_print:sign_in", args=[feature.pk]))
    assert start.status_code == 302 and "/authorize?" in start["Location"], start
    answer = at_microsoft(m365, start["Location"], account)
    return post_sign_in_answer(client, answer)


def tick(connection: Connection | Feature) -> str:
    """The connection's background work, run here (the sweep or Check now would queue it)."""
    if isinstance(connection, Feature):
        connection = Connection.objects.get(feature=connection)
    Connection.objects.filter(pk=connection.pk).update(next_attempt_at=_now())
    return connection_tick(connection_id=connection.pk)


def _now() -> Any:
    from django.utils import timezone

    return timezone.now()


def printers_taking_jobs(
    m365: Any, client: Client, feature: Feature, account: tuple[str, str], *printer_ids: str, queue: str = "Follow-Me"
) -> Connection:
    """List the printers, choose `printer_ids` (into `queue`), sign in again to apply: the printers take jobs."""
    printer_admin_signs_in(m365, client, feature, account)
    assert tick(feature) != "skipped"
    connection = Connection.objects.get(feature=feature)
    chosen = queue_create(tenant=feature.tenant, name=queue, actor=None)
    for printer in connection.printers.filter(printer_id__in=printer_ids):
        Printer.objects.filter(pk=printer.pk).update(feeds_roger=True, queue=chosen)
    printer_admin_signs_in(m365, client, feature, account)
    tick(connection)
    connection.refresh_from_db()
    assert set(connection.printers.exclude(trigger_id="").values_list("printer_id", flat=True)) == set(printer_ids)
    return connection


def take_jobs() -> list[str]:
    """Each job handed over and due, taken here (its queued task would do it in a worker)."""
    from universal_print.models import ReceivedJob
    from universal_print.services.jobs import received_job_take

    due = ReceivedJob.objects.filter(task_status="open", next_attempt_at__lte=_now()).values_list("pk", flat=True)
    return [received_job_take(job_id=pk) for pk in list(due)]


@pytest.fixture
def taking(m365: Any, up_feature: Feature, admin_a_client: Client, printer_admin: tuple[str, str]) -> Connection:
    """Secure Print (Follow-Me) takes jobs, into the queue Follow-Me."""
    return printers_taking_jobs(m365, admin_a_client, up_feature, printer_admin, SECURE_PRINT)
