"""Every kind of background work registered with the sweep: swept when due, left alone while a worker holds it.

A new kind adds here how to make one of its rows due: the first test fails until it does."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from background.claims import work_claim, work_release
from background.kinds import work_kinds, work_status, work_sweep
from credentials.models import MicrosoftCredential
from external_systems.models import DeviceCodeConnection
from integrations.models import AppRegistration, Feature, Integration
from onedrive.models import OneDrivePrint, ScanDelivery
from outgoing_mail.models import OutboundEmail
from tests.factories import ExternalSystemFactory, MailJobSourceFactory, MailServerAccountFactory

pytestmark = pytest.mark.django_db

LONG_AGO = timedelta(hours=1)  # due for longer than any kind's grace


def _credential(tenant: Any, admin: Any) -> Any:
    return MicrosoftCredential.objects.create(
        tenant=tenant,
        owner_type="external_system",
        owner_id=1,
        kind="delegated_public",
        directory_id="4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
        client_id="7e570001-0000-4000-8000-000000000001",
        next_attempt_at=timezone.now() - LONG_AGO,
    )


def _connection_step(tenant: Any, admin: Any) -> Any:
    system = ExternalSystemFactory(tenant=tenant)
    return DeviceCodeConnection.objects.create(
        tenant=tenant, system=system, requested_by=admin, next_attempt_at=timezone.now() - LONG_AGO
    )


def _roles_recheck(tenant: Any, admin: Any) -> Any:
    integration = Integration.objects.create(tenant=tenant, name="Contoso", setup_mode="manual")
    return AppRegistration.objects.create(
        integration=integration, kind="customer", next_attempt_at=timezone.now() - LONG_AGO
    )


def _onedrive_feature(tenant: Any) -> Any:
    integration = Integration.objects.create(tenant=tenant, name="Contoso", setup_mode="manual")
    app = AppRegistration.objects.create(integration=integration, kind="customer")
    return Feature.objects.create(
        integration=integration, app_registration=app, tenant=tenant, feature_type="onedrive", enabled=True
    )


def _onedrive_print(tenant: Any, admin: Any) -> Any:
    return OneDrivePrint.objects.create(
        tenant=tenant,
        user=admin,
        feature=_onedrive_feature(tenant),
        item_id="item",
        item_name="report.pdf",
        next_attempt_at=timezone.now() - LONG_AGO,
    )


def _scan_delivery(tenant: Any, admin: Any) -> Any:
    return ScanDelivery.objects.create(
        tenant=tenant,
        user=admin,
        feature=_onedrive_feature(tenant),
        name="scan.pdf",
        folder="Scans",
        size=1,
        next_attempt_at=timezone.now() - LONG_AGO,
    )


def _mail_poll(tenant: Any, admin: Any) -> Any:
    return MailJobSourceFactory(tenant=tenant, enabled=True, next_attempt_at=timezone.now() - LONG_AGO)


def _connection_test(tenant: Any, admin: Any) -> Any:
    return MailServerAccountFactory(tenant=tenant, test_status="running", next_attempt_at=timezone.now() - LONG_AGO)


def _delivery(tenant: Any, admin: Any) -> Any:
    return OutboundEmail.objects.create(
        tenant=tenant,
        from_email="noreply@roger.example",
        recipients=[admin.email],
        message=base64.b64encode(b"Subject: hello\r\n\r\nhello\r\n").decode(),
        next_attempt_at=timezone.now() - LONG_AGO,
    )


def _universal_print_connection(tenant: Any, admin: Any) -> Any:
    from universal_print.models import Connection

    integration = Integration.objects.create(tenant=tenant, name="Contoso", setup_mode="manual")
    app = AppRegistration.objects.create(integration=integration, kind="customer", customer_client_id="c")
    feature = Feature.objects.create(
        integration=integration, app_registration=app, tenant=tenant, feature_type="universal_print"
    )
    return Connection.objects.create(
        tenant=tenant, directory_id="d", client_id="c", feature=feature, next_attempt_at=timezone.now() - LONG_AGO
    )


def _universal_print_job(tenant: Any, admin: Any) -> Any:
    from universal_print.models import Connection, ReceivedJob

    connection = Connection.objects.create(tenant=tenant, directory_id="d", client_id="c")
    return ReceivedJob.objects.create(
        tenant=tenant,
        connection=connection,
        directory_id="d",
        up_printer_id="p",
        up_job_id="1",
        next_attempt_at=timezone.now() - LONG_AGO,
    )


def _user_sync_settings(tenant: Any, *, auto_sync: bool) -> Any:
    from user_sync.models import SyncSettings

    integration = Integration.objects.create(tenant=tenant, name="Contoso", setup_mode="manual")
    app = AppRegistration.objects.create(integration=integration, kind="customer", customer_client_id="c")
    feature = Feature.objects.create(
        integration=integration, app_registration=app, tenant=tenant, feature_type="user_sync", enabled=True
    )
    return SyncSettings.objects.create(
        tenant=tenant,
        feature=feature,
        directory_id="d",
        auto_sync=auto_sync,
        next_attempt_at=timezone.now() - LONG_AGO if auto_sync else None,
    )


def _user_sync_automatic(tenant: Any, admin: Any) -> Any:
    return _user_sync_settings(tenant, auto_sync=True)


def _user_sync_run(tenant: Any, admin: Any) -> Any:
    from user_sync.models import SyncRun

    settings = _user_sync_settings(tenant, auto_sync=False)
    return SyncRun.objects.create(
        tenant=tenant, settings=settings, requested_by=admin, next_attempt_at=timezone.now() - LONG_AGO
    )


def _user_import(tenant: Any, admin: Any) -> Any:
    from users_admin.models import UserImport

    return UserImport.objects.create(
        tenant=tenant,
        created_by=admin,
        file="user-imports/people.csv",
        file_name="people.csv",
        file_format="csv",
        next_attempt_at=timezone.now() - LONG_AGO,
    )


ROWS: dict[str, Callable[[Any, Any], Any]] = {
    "credentials.refresh": _credential,
    "external_systems.connection_step": _connection_step,
    "integrations.roles_recheck": _roles_recheck,
    "mail_jobs.poll": _mail_poll,
    "onedrive.print": _onedrive_print,
    "onedrive.scan": _scan_delivery,
    "mail_servers.connection_test": _connection_test,
    "outgoing_mail.delivery": _delivery,
    "universal_print.connection": _universal_print_connection,
    "universal_print.job": _universal_print_job,
    "user_sync.automatic": _user_sync_automatic,
    "user_sync.run": _user_sync_run,
    "users_admin.user_import": _user_import,
}


def test_the_kinds_of_background_work():
    assert [kind.name for kind in work_kinds()] == sorted(ROWS)


@pytest.mark.parametrize("name", sorted(ROWS))
def test_each_kind_is_swept_when_due_and_left_alone_while_held(
    name, tenant_a, admin_a, monkeypatch, django_capture_on_commit_callbacks
):
    kind = next(kind for kind in work_kinds() if kind.name == name)
    row = ROWS[name](tenant_a, admin_a)
    queued: list[tuple[Any, ...]] = []
    monkeypatch.setattr(kind.task, "apply_async", lambda args, **options: queued.append(args))

    def sweep() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return work_sweep()[name]

    assert sweep() == 1 and queued == [(row.pk,)]
    claim = work_claim(kind.rows(), row.pk, lease=timedelta(minutes=1))
    assert claim is not None
    assert sweep() == 0, "a worker holds it"
    assert work_release(kind.rows(), claim, next_attempt_at=None)
    assert sweep() == 0, "nothing left to do"
    assert queued == [(row.pk,)]


def test_a_task_returns_the_status_its_step_left_or_none() -> None:
    class Row:
        status = "done"

    def gone() -> None:
        raise OneDrivePrint.DoesNotExist

    assert work_status(Row) == "done"
    assert work_status(lambda: None) is None, "nothing to do (another worker has it)"
    assert work_status(gone) is None, "the row was deleted while it was worked on"
