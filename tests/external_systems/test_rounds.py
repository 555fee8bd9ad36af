"""A task takes a round of steps: every due connection at once, their calls side by side, one task per slot after."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from background.claims import work_claim_due
from external_systems import services, tasks
from external_systems.choices import ConnectionStatus
from external_systems.models import DeviceCodeConnection
from external_systems.services import connections as connection_services
from operations.context import RequestContext, context_bound
from tests.conftest import wait_until
from tests.external_systems.conftest import CONTOSO_ADMIN, device_code_polls, make_system, start

pytestmark = [pytest.mark.emulator, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[tuple[Any, ...], datetime | None]]:
    """The rounds queued meanwhile (args and ETA), kept here instead of going to the broker."""
    rounds: list[tuple[tuple[Any, ...], datetime | None]] = []
    monkeypatch.setattr(
        tasks.connection_advance_task, "apply_async", lambda args, eta=None, **kw: rounds.append((args, eta))
    )
    return rounds


def _pending(tenant: Any, admin: Any, count: int) -> list[DeviceCodeConnection]:
    connections = [start(make_system(tenant, admin, title=f"Mailbox {n}"), admin) for n in range(count)]
    services.connection_advance(connection_id=connections[0].pk)  # one round starts them all
    for connection in connections:
        connection.refresh_from_db()
        assert connection.status == ConnectionStatus.PENDING, connection.error_message
    return connections


def _due(connections: list[DeviceCodeConnection]) -> None:
    latest = max(c.next_attempt_at for c in DeviceCodeConnection.objects.filter(pk__in=[c.pk for c in connections]))
    wait_until(lambda: timezone.now() >= latest, timeout=30, message="the polls' due time")


def test_one_round_polls_every_due_code_once_and_queues_one_task_per_slot(m365, tenant_a, admin_a, queued):
    connections = _pending(tenant_a, admin_a, 12)
    _due(connections)
    m365.control.approve_device_code(connections[3].user_code, CONTOSO_ADMIN[0])
    queued.clear()
    polls_before = len(device_code_polls(m365))
    codes = sorted(_device_code(c) for c in connections)

    with CaptureQueriesContext(db_connection) as queries:
        services.connection_advance(connection_id=connections[0].pk)

    polls = device_code_polls(m365)[polls_before:]
    assert sorted(p["form"]["device_code"] for p in polls) == codes, "each due code polled exactly once"
    statuses = {c.pk: c.status for c in DeviceCodeConnection.objects.filter(pk__in=[c.pk for c in connections])}
    assert statuses.pop(connections[3].pk) == ConnectionStatus.CONNECTED
    assert set(statuses.values()) == {ConnectionStatus.PENDING}
    # The round's fixed cost (claim, read) and one UPDATE per code still waiting: no per-poll lock, read or save.
    connect_queries = 25  # the approved code: lock, credential, system, audit
    assert len(queries.captured_queries) <= 5 + len(statuses) + connect_queries, len(queries.captured_queries)
    # The eleven codes fall due again within a slot or two: one task each, not eleven.
    etas = sorted(eta for _, eta in queued if eta is not None)
    assert 1 <= len(etas) <= 3 and len(set(etas)) == len(etas)
    waiting = DeviceCodeConnection.objects.filter(status=ConnectionStatus.PENDING)
    assert etas[0] >= min(c.next_attempt_at for c in waiting), "no task before its codes are due"
    assert max(c.next_attempt_at for c in waiting) <= etas[-1], "no code is left without a task at or after its time"


def test_a_round_never_polls_a_code_before_its_interval(m365, tenant_a, admin_a, queued):
    connections = _pending(tenant_a, admin_a, 4)
    _due(connections)
    services.connection_advance(connection_id=connections[0].pk)
    polls_before = len(device_code_polls(m365))

    services.connection_advance(connection_id=connections[0].pk)  # a round right after: nothing is due yet

    assert len(device_code_polls(m365)) == polls_before
    _due(connections)
    services.connection_advance(connection_id=connections[0].pk)
    by_code: dict[str, list[float]] = {}
    for poll in device_code_polls(m365):
        by_code.setdefault(poll["form"]["device_code"], []).append(poll["at"])
    for times in by_code.values():
        assert all(later - earlier >= 1 for earlier, later in pairwise(times)), times  # the apps' 1 s interval


def test_a_full_round_queues_another_at_once(m365, tenant_a, admin_a, queued, monkeypatch):
    monkeypatch.setattr(connection_services, "STEP_BATCH", 3)
    connections = [start(make_system(tenant_a, admin_a, title=f"Mailbox {n}"), admin_a) for n in range(5)]
    queued.clear()

    services.connection_advance(connection_id=connections[0].pk)

    assert DeviceCodeConnection.objects.filter(status=ConnectionStatus.PENDING).count() == 3
    assert any(eta is not None and eta <= timezone.now() for _, eta in queued), "the other two are due now"
    services.connection_advance(connection_id=connections[3].pk)
    assert DeviceCodeConnection.objects.filter(status=ConnectionStatus.PENDING).count() == 5


def test_steps_claimed_along_do_not_borrow_the_tasks_actor_or_address(m365, tenant_a, admin_a, tenant_b, admin_b):
    ours = start(make_system(tenant_a, admin_a, title="Ours"), admin_a)
    theirs = start(make_system(tenant_b, admin_b, title="Theirs"), admin_b)
    page = RequestContext(correlation_id="flow-of-tenant-a", client_address="203.0.113.7", tenant_id=tenant_a.pk)
    with context_bound(page):
        services.connection_advance(connection_id=ours.pk)
    for connection in (ours, theirs):
        connection.refresh_from_db()
        m365.control.approve_device_code(connection.user_code, CONTOSO_ADMIN[0])
    _due([ours, theirs])

    with context_bound(page):
        services.connection_advance(connection_id=ours.pk)

    connected = {e.target_id: e for e in AuditEvent.objects.filter(action="external_system.connected")}
    assert connected[str(ours.system_id)].ip_address == "203.0.113.7"
    assert connected[str(theirs.system_id)].ip_address is None
    assert connected[str(theirs.system_id)].tenant_id == tenant_b.pk


def _device_code(connection: DeviceCodeConnection) -> str:
    return str(json.loads(DeviceCodeConnection.objects.get(pk=connection.pk).flow or "{}").get("device_code", ""))


def test_the_slot_is_never_before_the_time():
    at = timezone.now()
    slot = connection_services._slot(at)
    assert at <= slot < at + timedelta(seconds=connection_services.STEP_SLOT_SECONDS)


def test_a_slow_call_keeps_its_code_held_past_the_lease_the_round_renews(m365, tenant_a, admin_a, queued, monkeypatch):
    connections = _pending(tenant_a, admin_a, 2)
    _due(connections)
    monkeypatch.setattr(connection_services, "STEP_LEASE", timedelta(seconds=1))
    monkeypatch.setattr(connection_services, "STEP_RENEW_SECONDS", 0.2)
    real_poll = connection_services.identity.device_flow_poll
    slow_code = _device_code(connections[0])
    taken_meanwhile: list[list[int]] = []

    def slow_poll(**kwargs: Any) -> Any:
        if kwargs["flow"]["device_code"] == slow_code:
            time.sleep(2)  # twice the lease: without renewal another round would poll this code again
            try:
                claims = work_claim_due(connection_services.connections_polled(), limit=10, lease=timedelta(seconds=1))
                taken_meanwhile.append([claim.pk for claim in claims])
            finally:
                db_connection.close()
        return real_poll(**kwargs)

    monkeypatch.setattr(connection_services.identity, "device_flow_poll", slow_poll)
    services.connection_advance(connection_id=connections[0].pk)

    assert taken_meanwhile == [[]]
    assert set(DeviceCodeConnection.objects.values_list("lease_token", flat=True)) == {""}, "both released"
