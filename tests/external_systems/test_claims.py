"""A poll in flight is held: neither the sweep nor a starting worker starts a second one meanwhile.

The interleaving is made deterministic on PostgreSQL: while the first worker's call to Microsoft is in
flight (the code already approved, the grant on its way back), another worker, with its own database
connection, sweeps as a starting worker does and runs whatever the sweep queued.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from background.claims import work_claim_due
from background.kinds import work_sweep
from credentials.selectors import credential_for
from external_systems import services, tasks
from external_systems.choices import ConnectionStatus
from external_systems.models import DeviceCodeConnection
from external_systems.services import connections as connection_services
from external_systems.services.connections import STEP_LEASE
from tests.conftest import wait_until
from tests.external_systems.conftest import CONTOSO_ADMIN, device_code_polls, start, step

pytestmark = [pytest.mark.emulator, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The connection steps queued meanwhile, kept here instead of going to the broker."""
    steps: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks.connection_advance_task, "apply_async", lambda args, **kw: steps.append(args))
    return steps


def _another_worker_starts(steps: list[tuple[Any, ...]]) -> None:
    try:
        work_sweep(grace=timedelta(0))
        for connection_id, *_ in list(steps):
            services.connection_advance(connection_id=connection_id)
    finally:
        db_connection.close()


def test_a_poll_in_flight_is_not_polled_again_by_a_starting_worker(m365, system_a, admin_a, monkeypatch, queued):
    connection = step(start(system_a, admin_a))
    m365.control.approve_device_code(connection.user_code, CONTOSO_ADMIN[0])
    real_poll = connection_services.identity.device_flow_poll
    interleaved: list[bool] = []

    def poll_while_another_worker_starts(**kwargs: Any) -> Any:
        result = real_poll(**kwargs)  # Microsoft handed over the grant; before it is stored...
        if not interleaved:
            interleaved.append(True)
            other = threading.Thread(target=_another_worker_starts, args=(queued,))
            other.start()
            other.join(timeout=30)
        return result

    monkeypatch.setattr(connection_services.identity, "device_flow_poll", poll_while_another_worker_starts)
    polls_before = len(device_code_polls(m365))
    connection = step(connection)

    assert interleaved
    assert connection.status == ConnectionStatus.CONNECTED, connection.error_message
    assert len(device_code_polls(m365)) == polls_before + 1, "one poll redeemed the code, no second one"
    assert credential_for(tenant=system_a.tenant, owner_type="external_system", owner_id=system_a.pk) is not None


def test_a_poll_left_by_a_dead_worker_is_taken_up_when_its_lease_runs_out(m365, system_a, admin_a, queued):
    connection = step(start(system_a, admin_a))
    m365.control.approve_device_code(connection.user_code, CONTOSO_ADMIN[0])
    wait_until(lambda: timezone.now() >= connection.next_attempt_at, message="the next poll's time")
    claims = work_claim_due(
        connection_services.connections_polled(), limit=connection_services.STEP_BATCH, lease=STEP_LEASE
    )
    assert [claim.pk for claim in claims] == [
        connection.pk
    ]  # a worker took the step and died before Microsoft answered

    assert work_sweep(grace=timedelta(0))["external_systems.connection_step"] == 0
    DeviceCodeConnection.objects.filter(pk=connection.pk).update(lease_until=claims[0].claimed_at)  # the lease ran out
    assert work_sweep(grace=timedelta(0))["external_systems.connection_step"] == 1
    services.connection_advance(connection_id=queued[-1][0])

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.CONNECTED
