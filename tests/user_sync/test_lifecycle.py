"""Turning User Synchronization off or deleting the integration keeps the users, marked as no longer synced, and
offers to deactivate them; the connector's Health on the page and the dashboard."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from accounts.models import User
from audit.models import AuditEvent
from health import HealthState
from health.attention import attention_for
from integrations.services.features import feature_disable
from integrations.services.integrations import integration_delete_impact
from tests.user_sync.conftest import ADELE, CONTOSO, CONTOSO_ENABLED_MEMBERS, sync
from user_sync.choices import RunStatus
from user_sync.models import SyncRun, SyncSettings
from user_sync.selectors import connector_health
from user_sync.services.runs import run_start


def test_disabling_keeps_the_users_and_offers_to_deactivate_them(
    sync_settings: Any, admin_a: Any, admin_a_client: Client
) -> None:
    sync(sync_settings)
    open_run = run_start(settings=sync_settings, actor=admin_a)
    said = feature_disable(feature=sync_settings.feature)
    assert any("kept and no longer synchronized" in sentence for sentence in said)
    open_run.refresh_from_db()
    assert open_run.status == RunStatus.FAILED  # the open run stops
    assert User.objects.filter(directory_tenant_id=CONTOSO, is_active=True).count() == CONTOSO_ENABLED_MEMBERS
    page = admin_a_client.get(reverse("user_sync:page")).content.decode()
    assert f'id="stopped-{sync_settings.pk}"' in page and "no longer synchronized" in page
    admin_a_client.post(reverse("user_sync:deactivate_stopped", args=[sync_settings.pk]))
    assert not User.objects.filter(directory_tenant_id=CONTOSO, is_active=True).exists()
    assert admin_a.__class__.objects.get(pk=admin_a.pk).is_active  # the admin is a local user: untouched


def test_deleting_the_integration_warns_first_and_keeps_the_users(
    sync_settings: Any, admin_a: Any, admin_a_client: Client
) -> None:
    sync(sync_settings)
    integration = sync_settings.feature.integration
    warnings = integration_delete_impact(integration=integration).warnings
    assert any("User Synchronization brought" in warning for warning in warnings)
    admin_a_client.post(reverse("integrations:delete", args=[integration.pk]), REMOTE_ADDR="203.0.113.8")
    settings = SyncSettings.objects.get(pk=sync_settings.pk)
    stopped = AuditEvent.objects.get(action="user_sync.stopped")
    assert (stopped.actor, stopped.ip_address) == (admin_a, "203.0.113.8"), "the deleting page's user and address"
    assert settings.feature is None and settings.stopped_at is not None
    assert SyncRun.objects.filter(settings=settings).exists()  # the history stays
    assert User.objects.get(email=ADELE).is_active
    page = admin_a_client.get(reverse("user_sync:page")).content.decode()
    assert "The integration was deleted" in page


def test_the_connectors_health_on_the_dashboard(m365: Any, sync_settings: Any, tenant_a: Any) -> None:
    assert connector_health(sync_settings).label == "Not synchronized yet"
    sync(sync_settings)
    assert connector_health(sync_settings).state == HealthState.OK
    sync_settings.threshold_percent = 1
    sync_settings.save()
    m365.control.delete_user(CONTOSO, ADELE)
    held = sync(sync_settings)
    assert held.status == RunStatus.HELD
    health = connector_health(sync_settings)
    assert health.label == "Deactivations held" and health.fix_url == reverse("user_sync:page")
    assert any(h.label == "Deactivations held" for h in attention_for(tenant=tenant_a))
    m365.control.inject_fault("graph", status=403)
    failed = sync(sync_settings)
    assert failed.status == RunStatus.FAILED and failed.error
