"""A real Celery worker on Redis drives the device code flow against the emulator, and survives being killed."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from django.utils import timezone

from external_systems.choices import ConnectionStatus
from external_systems.models import DeviceCodeConnection
from tests.conftest import wait_until
from tests.external_systems.conftest import CONTOSO_ADMIN, device_code_polls, make_system, start

pytestmark = [pytest.mark.emulator, pytest.mark.django_db(transaction=True)]


def _status(connection: DeviceCodeConnection, *statuses: str) -> bool:
    connection.refresh_from_db()
    return connection.status in statuses


def _assert_polls_kept_the_interval(m365: Any, interval: int) -> None:
    times = [poll["at"] for poll in device_code_polls(m365)]
    assert len(times) >= 2
    gaps = [later - earlier for earlier, later in pairwise(times)]
    assert min(gaps) >= interval, gaps


def test_the_worker_connects_a_mailbox_polling_at_microsofts_interval(m365, celery_worker, tenant_a, admin_a):
    connection = start(make_system(tenant_a, admin_a), admin_a)

    wait_until(lambda: _status(connection, ConnectionStatus.PENDING), message="the code from Microsoft")
    wait_until(lambda: len(device_code_polls(m365)) >= 3, message="a few polls")
    m365.control.approve_device_code(connection.user_code, CONTOSO_ADMIN[0])
    wait_until(lambda: _status(connection, ConnectionStatus.CONNECTED), message="the connection")

    connection.system.refresh_from_db()
    assert connection.system.mailbox == CONTOSO_ADMIN[0]
    _assert_polls_kept_the_interval(m365, connection.interval)


def test_a_worker_killed_between_polls_finishes_the_flow_after_restart(m365, celery_worker, tenant_a, admin_a):
    connection = start(make_system(tenant_a, admin_a), admin_a)
    wait_until(lambda: _status(connection, ConnectionStatus.PENDING), message="the code from Microsoft")
    wait_until(lambda: len(device_code_polls(m365)) >= 2, message="polling to begin")
    # Between two polls: a worker killed during a poll holds the connection until its lease runs out (minutes).
    wait_until(lambda: _between_polls(connection), interval=0.02, message="a moment between two polls")

    celery_worker.kill()
    polls_while_dead = len(device_code_polls(m365))
    m365.control.approve_device_code(connection.user_code, CONTOSO_ADMIN[0])
    wait_until(lambda: _poll_overdue(connection), message="the next poll to fall due")
    assert len(device_code_polls(m365)) == polls_while_dead
    celery_worker.start()

    wait_until(lambda: _status(connection, ConnectionStatus.CONNECTED), timeout=30, message="the connection")
    _assert_polls_kept_the_interval(m365, connection.interval)
    assert "Sweep: queued 1 external_systems.connection_step" in celery_worker.log()


def _between_polls(connection: DeviceCodeConnection) -> bool:
    connection.refresh_from_db()
    due = connection.next_attempt_at
    return connection.lease_until is None and due is not None and due - timezone.now() > timedelta(seconds=0.5)


def _poll_overdue(connection: DeviceCodeConnection) -> bool:
    connection.refresh_from_db()
    return connection.next_attempt_at is not None and timezone.now() > connection.next_attempt_at
