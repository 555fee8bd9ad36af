"""Helpers of the OneDrive tests: a tenant with OneDrive enabled, users who connect it at the emulator's pages
(the real sign-in flow through the portal's callbacks), and the background steps run as their tasks would."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from integrations.models import Feature
from integrations.services.features import feature_enable
from onedrive.models import OneDrivePrint, ScanDelivery
from onedrive.services.printing import print_request_create, print_work
from onedrive.services.scanning import scan_deliver, scan_delivery_create
from tests.factories import UserFactory
from tests.integrations.conftest import connected_automatic, consented, feature_of
from tests.security.conftest import at_microsoft, post_sign_in_answer

ADELE = ("adele.vance@contoso.onmicrosoft.com", "Contoso-User-1")
ALEX = ("alex.wilber@contoso.onmicrosoft.com", "Contoso-User-1")
MEGAN = ("megan.bowen@fabrikam.onmicrosoft.com", "Fabrikam-User-1")
ONEDRIVE_APP = "6e1c0a04-7d2b-4c3e-9f10-000000000a04"


def onedrive_enabled(admin: Any, *, directory_id: str | None = None) -> Feature:
    integration = connected_automatic(admin, **({"directory_id": directory_id} if directory_id else {}))
    feature = consented(feature_of(integration, "onedrive"))
    feature_enable(feature=feature)
    feature.refresh_from_db()
    return feature


def connect(client: Client, m365: Any, feature: Feature, account: tuple[str, str]) -> Any:
    """The user presses Sign in with Microsoft, signs in (and consents) at Microsoft; the portal stores it."""
    start = client.post(reverse("integrations:cloud_services_connect", args=[feature.pk]))
    assert start.status_code == 302, start
    return post_sign_in_answer(client, at_microsoft(m365, start["Location"], account))


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def feature(m365: Any, admin_a: Any) -> Feature:
    return onedrive_enabled(admin_a)


@pytest.fixture
def adele(tenant_a: Any) -> Any:
    return UserFactory(tenant=tenant_a, email="adele@alpha.example", full_name="Adele Vance")


@pytest.fixture
def adele_client(m365: Any, feature: Feature, adele: Any) -> Client:
    """Adele, signed in to the portal, with her OneDrive connected."""
    client = client_for(adele)
    connect(client, m365, feature, ADELE)
    return client


def item_id(m365: Any, upn: str, path: str) -> str:
    return str(m365.control.onedrive_files(upn)[path]["id"])


def printed(user: Any, m365: Any, upn: str, *paths: str) -> list[OneDrivePrint]:
    """Print `paths` from the user's OneDrive, and run the fetches as the worker would."""
    rows = print_request_create(user=user, items=[(item_id(m365, upn, p), p.rsplit("/", 1)[-1]) for p in paths])
    for row in rows:
        print_work(print_id=row.pk)
        row.refresh_from_db()
    return rows


def scanned(user: Any, name: str, content: bytes) -> ScanDelivery:
    return scan_delivery_create(user=user, name=name, document=ContentFile(content, name=name))


def deliver(delivery: ScanDelivery) -> ScanDelivery:
    scan_deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


def due_now(row: Any) -> None:
    """The retry's time has come (its countdown passed)."""
    from django.utils import timezone

    type(row).objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
