"""The device code connection against the emulator, one Celery step at a time (run in-process here)."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import IntegrityError
from django.db import connection as db_connection
from django.utils import timezone

from audit.models import AuditEvent
from background.kinds import work_sweep
from credentials.choices import CredentialKind, CredentialState
from credentials.selectors import credential_for
from external_systems import services
from external_systems.choices import ConnectionStatus, SystemStatus
from external_systems.models import DeviceCodeConnection
from external_systems.selectors import connected_exchange_systems
from external_systems.services import connections as connection_services
from tests.external_systems.conftest import (
    CONTOSO,
    CONTOSO_ADMIN,
    CONTOSO_DOMAIN,
    CONTOSO_USER,
    NO_PUBLIC_FLOWS_APP,
    SMTP_SEND,
    device_code_polls,
    make_system,
    start,
    step,
    step_until,
)

pytestmark = [pytest.mark.emulator, pytest.mark.django_db]


def _connected(m365: Any, system: Any, actor: Any, upn: str = CONTOSO_ADMIN[0]) -> DeviceCodeConnection:
    connection = step(start(system, actor))
    m365.control.approve_device_code(connection.user_code, upn)
    return step_until(connection, ConnectionStatus.CONNECTED, ConnectionStatus.CONFIRM_SWITCH)


def test_starting_resolves_the_domain_and_shows_microsofts_code(m365, tenant_a, admin_a):
    system = make_system(tenant_a, admin_a, directory=CONTOSO_DOMAIN)
    assert system.directory_id == ""

    connection = step(start(system, admin_a))

    assert connection.status == ConnectionStatus.PENDING
    system.refresh_from_db()
    assert system.directory_id == CONTOSO
    pending = m365.control.pending_device_codes()
    assert [c["user_code"] for c in pending] == [connection.user_code]
    assert set(pending[0]["scope"].split()) >= {
        "https://outlook.office.com/SMTP.Send",
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "https://outlook.office.com/POP.AccessAsUser.All",
    }
    assert connection.verification_uri == f"{m365.http_url}/devicelogin"
    assert timedelta(minutes=14) < connection.expires_at - timezone.now() <= timedelta(minutes=15)
    assert connection.next_attempt_at is not None and connection.next_attempt_at > timezone.now()


def test_the_flow_is_stored_encrypted(m365, system_a, admin_a):
    connection = step(start(system_a, admin_a))
    assert "device_code" in connection.flow

    with db_connection.cursor() as cursor:
        cursor.execute("SELECT flow FROM external_systems_devicecodeconnection WHERE id = %s", [connection.pk])
        raw = bytes(cursor.fetchone()[0])
    assert b"device_code" not in raw and connection.user_code.encode() not in raw


def test_an_approved_code_connects_the_mailbox_and_stores_the_credential(m365, system_a, admin_a):
    connection = _connected(m365, system_a, admin_a)

    assert connection.status == ConnectionStatus.CONNECTED
    system_a.refresh_from_db()
    assert system_a.status == SystemStatus.CONNECTED
    assert system_a.mailbox == CONTOSO_ADMIN[0]
    credential = credential_for(tenant=system_a.tenant, owner_type="external_system", owner_id=system_a.pk)
    assert credential is not None
    assert credential.kind == CredentialKind.DELEGATED_PUBLIC
    assert credential.state == CredentialState.ACTIVE
    assert credential.directory_id == CONTOSO
    assert credential.account_username == CONTOSO_ADMIN[0]
    assert services.exchange_access_token(system=system_a, scopes=[SMTP_SEND])
    assert list(connected_exchange_systems(tenant=system_a.tenant)) == [system_a]
    assert AuditEvent.objects.filter(action="external_system.connected", target_id=str(system_a.pk)).exists()


def test_polls_keep_to_microsofts_interval_and_slow_down_lengthens_it(m365, system_a, admin_a):
    connection = step(step(start(system_a, admin_a)))  # started, then one poll: pending
    assert connection.status == ConnectionStatus.PENDING and connection.interval == 1

    # A poll before the interval is over never reaches Microsoft: the claim refuses the step that is not due.
    DeviceCodeConnection.objects.filter(pk=connection.pk).update(next_attempt_at=timezone.now() + timedelta(hours=1))
    before = len(device_code_polls(m365))
    step(connection, wait=False)
    assert len(device_code_polls(m365)) == before

    # Microsoft says slow_down when polled too fast (here forced by polling at once): the interval grows by 5 s.
    DeviceCodeConnection.objects.filter(pk=connection.pk).update(next_attempt_at=timezone.now())
    connection = step(connection, wait=False)
    assert connection.status == ConnectionStatus.PENDING
    assert connection.interval == 6
    assert connection.next_attempt_at >= timezone.now() + timedelta(seconds=5)


def test_an_expired_code_says_start_again(m365, system_a, admin_a):
    connection = step(start(system_a, admin_a))
    m365.control.expire_device_code(connection.user_code)

    connection = step_until(connection, ConnectionStatus.EXPIRED)

    assert "15 minutes" in connection.error_message and "Start again" in connection.error_message
    assert connection.flow == "" and connection.finished_at is not None
    retry = start(system_a, admin_a)
    assert retry.pk != connection.pk and retry.status == ConnectionStatus.STARTING


def test_the_poll_at_expiry_reports_it_without_calling_microsoft(m365, system_a, admin_a):
    connection = step(start(system_a, admin_a))
    flow = json.loads(connection.flow)
    flow["expires_at"] = time.time() - 1
    connection.flow = json.dumps(flow)
    connection.expires_at = connection.next_attempt_at = timezone.now()
    connection.save()
    before = len(device_code_polls(m365))

    connection = step(connection)

    assert connection.status == ConnectionStatus.EXPIRED
    assert len(device_code_polls(m365)) == before


def test_a_declined_sign_in_is_shown(m365, system_a, admin_a):
    connection = step(start(system_a, admin_a))
    m365.control.decline_device_code(connection.user_code, CONTOSO_ADMIN[0])

    connection = step_until(connection, ConnectionStatus.DECLINED)

    assert "declined" in connection.error_message
    assert credential_for(tenant=system_a.tenant, owner_type="external_system", owner_id=system_a.pk) is None


def test_public_client_flows_not_allowed_is_explained_with_the_fix(m365, tenant_a, admin_a):
    system = make_system(tenant_a, admin_a, client_id=NO_PUBLIC_FLOWS_APP)

    connection = step_until(start(system, admin_a), ConnectionStatus.FAILED)

    assert connection.error_code == 7000218
    assert "Allow public client flows" in connection.error_message


def test_an_unknown_tenant_is_explained(m365, tenant_a, admin_a):
    system = make_system(tenant_a, admin_a, directory="nosuchcompany.onmicrosoft.com")

    connection = step(start(system, admin_a))

    assert connection.status == ConnectionStatus.FAILED
    assert connection.error_code == 90002
    assert "Check the Directory (Tenant) ID" in connection.error_message


def test_microsoft_unreachable_at_start_is_retried_not_failed(m365, system_a, admin_a):
    m365.control.inject_fault("devicecode", status=503, count=1)

    connection = step(start(system_a, admin_a))

    assert connection.status == ConnectionStatus.STARTING
    assert "Trying again" in connection.error_message and connection.attempts == 1
    connection = step(connection)
    assert connection.status == ConnectionStatus.PENDING and connection.error_message == ""


def test_another_mailbox_signing_in_asks_before_switching(m365, system_a, admin_a):
    _connected(m365, system_a, admin_a)

    connection = _connected(m365, system_a, admin_a, upn=CONTOSO_USER[0])

    assert connection.status == ConnectionStatus.CONFIRM_SWITCH
    assert connection.signed_in_mailbox == CONTOSO_USER[0]
    system_a.refresh_from_db()
    assert system_a.mailbox == CONTOSO_ADMIN[0]
    credential = credential_for(tenant=system_a.tenant, owner_type="external_system", owner_id=system_a.pk)
    assert credential.account_username == CONTOSO_ADMIN[0]

    services.connection_switch_confirm(connection=connection, actor=admin_a)

    system_a.refresh_from_db()
    assert system_a.mailbox == CONTOSO_USER[0]
    credential.refresh_from_db()
    assert credential.account_username == CONTOSO_USER[0]
    assert AuditEvent.objects.filter(action="external_system.mailbox_switched").exists()


def test_keeping_the_connected_mailbox_discards_the_other_sign_in(m365, system_a, admin_a):
    _connected(m365, system_a, admin_a)
    connection = _connected(m365, system_a, admin_a, upn=CONTOSO_USER[0])

    kept = services.connection_switch_reject(connection=connection)

    assert kept.status == ConnectionStatus.CANCELLED and kept.held_grant == ""
    system_a.refresh_from_db()
    assert system_a.mailbox == CONTOSO_ADMIN[0]


def test_a_cancel_while_microsoft_answers_drops_the_answer(m365, system_a, admin_a, monkeypatch):
    connection = step(start(system_a, admin_a))
    m365.control.approve_device_code(connection.user_code, CONTOSO_ADMIN[0])
    real_poll = connection_services.identity.device_flow_poll

    def poll_then_cancel(**kwargs: Any) -> Any:
        result = real_poll(**kwargs)
        services.connection_cancel(connection=connection)
        return result

    monkeypatch.setattr(connection_services.identity, "device_flow_poll", poll_then_cancel)
    connection = step(connection)

    assert connection.status == ConnectionStatus.CANCELLED
    assert credential_for(tenant=system_a.tenant, owner_type="external_system", owner_id=system_a.pk) is None


def test_a_duplicate_step_does_nothing(m365, system_a, admin_a):
    connection = step(start(system_a, admin_a))
    before = len(device_code_polls(m365))

    services.connection_advance(connection_id=connection.pk)  # a second task for the step that just ran

    connection.refresh_from_db()
    assert len(device_code_polls(m365)) == before
    assert connection.status == ConnectionStatus.PENDING


def test_one_pending_flow_per_system(m365, system_a, admin_a):
    first = start(system_a, admin_a)

    assert start(system_a, admin_a).pk == first.pk
    with pytest.raises(IntegrityError):
        DeviceCodeConnection.objects.create(tenant=system_a.tenant, system=system_a)


def test_the_sweep_requeues_steps_lost_with_a_worker(
    m365, system_a, admin_a, monkeypatch, django_capture_on_commit_callbacks
):
    from external_systems import tasks

    connection = step(start(system_a, admin_a))
    DeviceCodeConnection.objects.filter(pk=connection.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=5))
    queued: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks.connection_advance_task, "apply_async", lambda args, **kw: queued.append(args))

    with django_capture_on_commit_callbacks(execute=True):
        assert work_sweep()["external_systems.connection_step"] == 1

    assert queued == [(connection.pk,)]


def test_the_code_can_be_emailed_to_the_mailbox_owner(m365, system_a, admin_a):
    connection = step(start(system_a, admin_a))

    services.connection_code_email(connection=connection, recipient="printing@contoso.com")

    assert len(mail.outbox) == 1, "queued with the request (pytest-django's mail backend keeps it here)"
    message = mail.outbox[0]
    assert message.to == ["printing@contoso.com"]
    assert connection.user_code in message.body and connection.verification_uri in message.body
    assert AuditEvent.objects.filter(action="external_system.code_emailed").exists()


def test_no_code_is_emailed_before_microsoft_gave_one(m365, system_a, admin_a):
    connection = start(system_a, admin_a)

    services.connection_code_email(connection=connection, recipient="printing@contoso.com")

    assert mail.outbox == []
    assert not AuditEvent.objects.filter(action="external_system.code_emailed").exists()


def test_a_new_client_id_ends_the_connection(m365, system_a, admin_a):
    _connected(m365, system_a, admin_a)

    update = services.system_update(
        system=system_a,
        actor=admin_a,
        title="Renamed",
        client_id="7e570002-0000-4000-8000-000000000002",
        directory_input=CONTOSO,
    )

    assert update.needs_new_connection
    system_a.refresh_from_db()
    assert system_a.status == SystemStatus.NOT_CONNECTED and system_a.mailbox == "" and system_a.title == "Renamed"
    assert credential_for(tenant=system_a.tenant, owner_type="external_system", owner_id=system_a.pk) is None
    assert AuditEvent.objects.filter(action="external_system.updated").exists()


def test_a_new_title_keeps_the_connection(m365, system_a, admin_a):
    _connected(m365, system_a, admin_a)

    update = services.system_update(
        system=system_a, actor=admin_a, title="Renamed", client_id=system_a.client_id, directory_input=CONTOSO
    )

    assert not update.needs_new_connection
    assert credential_for(tenant=system_a.tenant, owner_type="external_system", owner_id=system_a.pk) is not None


def test_when_the_token_store_says_reconnect_the_list_says_so_and_reconnecting_fixes_it(
    m365, system_a, admin_a, admin_a_client
):
    from django.urls import reverse

    from credentials.services import credential_refresh

    _connected(m365, system_a, admin_a)
    credential = credential_for(tenant=system_a.tenant, owner_type="external_system", owner_id=system_a.pk)
    m365.control.revoke_grant(CONTOSO_ADMIN[0], system_a.client_id)
    assert credential_refresh(credential_id=credential.pk).state == CredentialState.NEEDS_RECONNECT

    page = admin_a_client.get(reverse("external_systems:list")).content.decode()
    assert "Needs reconnect" in page and ">Reconnect<" in page

    connection = _connected(m365, system_a, admin_a)  # the same mailbox signs in again: no question asked
    assert connection.status == ConnectionStatus.CONNECTED
    credential.refresh_from_db()
    assert credential.state == CredentialState.ACTIVE
    assert "Needs reconnect" not in admin_a_client.get(reverse("external_systems:list")).content.decode()


def test_the_token_store_knows_how_to_refresh_and_where_to_fix_an_external_system(m365, system_a, admin_a):
    from django.urls import reverse

    from credentials.registry import owner_type_get

    _connected(m365, system_a, admin_a)
    credential = credential_for(tenant=system_a.tenant, owner_type="external_system", owner_id=system_a.pk)
    owner = owner_type_get("external_system")

    assert owner.app_for(credential).client_id == system_a.client_id
    assert owner.app_for(credential).is_public
    assert owner.fix_url_for(credential) == reverse("external_systems:detail", args=[system_a.pk])
    assert system_a.title in owner.label_for(credential)
