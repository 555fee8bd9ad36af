"""Helpers for external systems: systems of tenant A on the emulator's device code apps, one step at a time."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from external_systems.models import DeviceCodeConnection, ExternalSystem
from external_systems.services import connection_advance, connection_start, system_create
from tests.conftest import wait_until

CONTOSO = "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
CONTOSO_DOMAIN = "contoso.onmicrosoft.com"
CONTOSO_ADMIN = ("admin@contoso.onmicrosoft.com", "Contoso-Admin-1")
CONTOSO_USER = ("adele.vance@contoso.onmicrosoft.com", "Contoso-User-1")
DEVICE_APP = "7e570001-0000-4000-8000-000000000001"  # public flows allowed, polling interval 1 s
NO_PUBLIC_FLOWS_APP = "7e570006-0000-4000-8000-000000000006"
SMTP_SEND = "https://outlook.office.com/SMTP.Send"


def make_system(
    tenant: Any, actor: Any, *, title: str = "MS Exchange Online", client_id: str = DEVICE_APP, directory: str = CONTOSO
) -> ExternalSystem:
    return system_create(
        tenant=tenant,
        actor=actor,
        system_type_key="exchange_online",
        title=title,
        client_id=client_id,
        directory_input=directory,
    )


def start(system: ExternalSystem, actor: Any) -> DeviceCodeConnection:
    return connection_start(system=system, actor=actor)


def step(connection: DeviceCodeConnection, *, wait: bool = True) -> DeviceCodeConnection:
    """Run the connection's next Celery step in-process, at the time Microsoft allows it (as the ETA would)."""
    connection.refresh_from_db()
    due = connection.next_attempt_at
    if wait and due is not None:
        wait_until(lambda: timezone.now() >= due, timeout=30, message="the poll's due time")
    connection_advance(connection_id=connection.pk)
    connection.refresh_from_db()
    return connection


def step_until(connection: DeviceCodeConnection, *statuses: str, limit: int = 20) -> DeviceCodeConnection:
    for _ in range(limit):
        connection = step(connection)
        if connection.status in statuses:
            return connection
    raise AssertionError(f"connection stayed {connection.status}, expected one of {statuses}")


@pytest.fixture
def system_a(tenant_a: Any, admin_a: Any) -> ExternalSystem:
    return make_system(tenant_a, admin_a)


def device_code_polls(m365: Any) -> list[dict[str, Any]]:
    """The device code token requests the emulator received, oldest first."""
    return [
        r
        for r in m365.control.requests_received("token")
        if r["form"].get("grant_type") == "urn:ietf:params:oauth:grant-type:device_code"
    ]
