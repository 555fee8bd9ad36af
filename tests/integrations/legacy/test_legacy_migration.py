"""Accounts set up before integrations: every combination of the old settings becomes one integration with
two app registrations, twice-run safe, and a dry run changes nothing."""

from __future__ import annotations

import itertools
from io import StringIO
from typing import Any

import pytest
from django.contrib.admin.sites import site
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from credentials.models import MicrosoftCredential
from integrations.choices import AppKind, ConsentState
from integrations.legacy.models import LegacyCloudServicesSettings, LegacyUniversalPrintSettings, LegacyUserSyncSettings
from integrations.legacy.selectors import legacy_application_id_for
from integrations.legacy.services.migration import legacy_migrate
from integrations.models import AppRegistration, Feature, Integration
from integrations.services.features import feature_enable
from tests.factories import MicrosoftCredentialFactory, TenantFactory, UserFactory
from tests.integrations.conftest import (
    CONTOSO,
    FABRIKAM,
    consented,
    feature_of,
    manual_integration,
)
from tests.integrations.legacy.conftest import LEGACY_APP, LEGACY_USER_SYNC_APP

pytestmark = pytest.mark.django_db

PRESENT = (None, False, True)  # absent, present but disabled, present and enabled


def _legacy(tenant: Any, *, user_sync: bool | None, universal_print: bool | None, cloud: bool | None) -> list[Any]:
    """The old settings in one of their combinations, each with the tokens it held."""
    now = timezone.now()
    credentials = []
    row: Any
    if user_sync is not None:
        row = LegacyUserSyncSettings.objects.create(
            tenant=tenant, enabled=user_sync, directory_id=CONTOSO, admin_consent_granted_at=now
        )
        credentials.append(
            MicrosoftCredentialFactory(
                tenant=tenant, owner_type="legacy_user_sync", owner_id=row.pk, client_id=LEGACY_USER_SYNC_APP
            )
        )
    if universal_print is not None:
        row = LegacyUniversalPrintSettings.objects.create(
            tenant=tenant, enabled=universal_print, directory_id=CONTOSO, admin_consent_granted_at=now
        )
        credentials.append(
            MicrosoftCredentialFactory(
                tenant=tenant, owner_type="legacy_universal_print", owner_id=row.pk, client_id=LEGACY_APP
            )
        )
    if cloud is not None:
        row = LegacyCloudServicesSettings.objects.create(
            tenant=tenant, onedrive_enabled=cloud, sharepoint_enabled=cloud, directory_id=CONTOSO
        )
        for email in ("adele@alpha.example", "alex@alpha.example"):
            user = UserFactory(tenant=tenant, email=email)
            credentials.append(
                MicrosoftCredentialFactory(
                    tenant=tenant, owner_type="legacy_cloud_storage", owner_id=row.pk, client_id=LEGACY_APP, user=user
                )
            )
    return credentials


def _snapshot() -> dict[str, object]:
    return {
        "integrations": list(Integration.objects.values_list("pk", "name", "is_legacy", "directory_id")),
        "apps": list(AppRegistration.objects.values_list("pk", "kind", "operator_app")),
        "features": list(Feature.objects.values_list("pk", "feature_type", "enabled", "consent_state")),
        "credentials": list(
            MicrosoftCredential.objects.order_by("pk").values_list("pk", "owner_type", "owner_id", "user_id")
        ),
        "audit": AuditEvent.objects.count(),
        "migrated": [
            list(model.objects.values_list("migrated_at", flat=True))
            for model in (LegacyUserSyncSettings, LegacyUniversalPrintSettings, LegacyCloudServicesSettings)
        ],
    }


COMBINATIONS = [c for c in itertools.product(PRESENT, PRESENT, PRESENT) if c != (None, None, None)]


@pytest.mark.parametrize(("user_sync", "universal_print", "cloud"), COMBINATIONS)
def test_each_legacy_combination_becomes_one_integration_with_two_apps(
    legacy_apps: Any, tenant_a: Any, user_sync: bool | None, universal_print: bool | None, cloud: bool | None
) -> None:
    held = _legacy(tenant_a, user_sync=user_sync, universal_print=universal_print, cloud=cloud)
    caches = {c.pk: c.token_cache for c in held}

    legacy_migrate(tenant=tenant_a)

    (integration,) = Integration.objects.filter(tenant=tenant_a)
    assert integration.is_legacy and integration.directory_id == CONTOSO and integration.setup_mode == "manual"
    apps = {app.operator_app: app for app in integration.app_registrations.all()}
    assert set(apps) == {"LEGACY", "LEGACY_USER_SYNC"} and {a.kind for a in apps.values()} == {AppKind.LEGACY}
    assert integration.app_registrations.first() == apps["LEGACY"], "the Application ID shown in Edit is LEGACY"
    features = {f.feature_type: f for f in integration.features.all()}
    assert features["user_sync"].app_registration == apps["LEGACY_USER_SYNC"]
    assert {features[t].app_registration for t in ("login", "universal_print", "onedrive")} == {apps["LEGACY"]}
    assert features["user_sync"].enabled is bool(user_sync)
    assert features["universal_print"].enabled is bool(universal_print)
    assert features["onedrive"].enabled is bool(cloud)
    assert not features["login"].enabled
    if user_sync is not None:
        assert features["user_sync"].consent_state == ConsentState.GRANTED

    # The rows themselves moved to the features: same ids, same (encrypted) caches, nothing copied.
    assert MicrosoftCredential.objects.count() == len(held)
    expected_owner = {"legacy_user_sync": "user_sync", "legacy_universal_print": "universal_print"}
    for credential in held:
        moved = MicrosoftCredential.objects.get(pk=credential.pk)
        feature_type = expected_owner.get(credential.owner_type, "onedrive")
        assert (moved.owner_type, moved.owner_id) == ("feature", features[feature_type].pk)
        assert moved.user_id == credential.user_id and moved.token_cache == caches[credential.pk]
    assert AuditEvent.objects.filter(action="integration.legacy_migrated").count() == 1
    assert AuditEvent.objects.filter(action="credential.adopted").count() == len(held)

    before = _snapshot()
    second = legacy_migrate(tenant=tenant_a)
    assert not second.has_work and _snapshot() == before, "a second run changes nothing and duplicates nothing"


@pytest.mark.parametrize(("user_sync", "universal_print", "cloud"), [(True, True, True), (None, False, True)])
def test_dry_run_changes_nothing_and_says_what_it_would_do(
    legacy_apps: Any, tenant_a: Any, user_sync: Any, universal_print: Any, cloud: Any
) -> None:
    _legacy(tenant_a, user_sync=user_sync, universal_print=universal_print, cloud=cloud)
    before = _snapshot()
    out = StringIO()

    call_command("migrate_legacy_integrations", "--dry-run", stdout=out)

    assert _snapshot() == before
    printed = out.getvalue()
    assert "Dry run: nothing is changed." in printed
    assert "alpha:" in printed and "create integration “Microsoft 365 (legacy)”" in printed
    assert "move token of adele@alpha.example to OneDrive" in printed
    assert "1 of 1 tenant(s) would be migrated." in printed


def test_command_migrates_every_tenant_or_one(legacy_apps: Any, tenant_a: Any, tenant_b: Any) -> None:
    _legacy(tenant_a, user_sync=True, universal_print=None, cloud=None)
    LegacyUserSyncSettings.objects.create(tenant=tenant_b, enabled=True, directory_id=FABRIKAM)
    TenantFactory(name="charlie")  # no legacy settings: not touched

    out = StringIO()
    call_command("migrate_legacy_integrations", "--tenant", "bravo", stdout=out)
    assert list(Integration.objects.values_list("tenant__name", flat=True)) == ["bravo"]
    assert "1 of 1 tenant(s) migrated." in out.getvalue()

    out = StringIO()
    call_command("migrate_legacy_integrations", stdout=out)
    assert sorted(Integration.objects.values_list("tenant__name", flat=True)) == ["alpha", "bravo"]
    assert "bravo: nothing to do (already migrated)" in out.getvalue()
    assert "1 of 2 tenant(s) migrated." in out.getvalue()


def test_command_refuses_an_unknown_tenant(legacy_apps: Any) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No Roger tenant has the tenancy name 'nope'"):
        call_command("migrate_legacy_integrations", "--tenant", "nope", stdout=StringIO())


def test_settings_naming_two_directories_are_skipped_with_the_reason(legacy_apps: Any, tenant_a: Any) -> None:
    LegacyUserSyncSettings.objects.create(tenant=tenant_a, enabled=True, directory_id=CONTOSO)
    LegacyUniversalPrintSettings.objects.create(tenant=tenant_a, enabled=True, directory_id=FABRIKAM)

    plan = legacy_migrate(tenant=tenant_a)

    assert plan.refused and not Integration.objects.exists()
    assert "different Microsoft directories" in plan.lines()[0]


def test_enabled_legacy_feature_without_recorded_consent_is_carried_over_as_needing_consent(
    legacy_apps: Any, tenant_a: Any
) -> None:
    LegacyUniversalPrintSettings.objects.create(tenant=tenant_a, enabled=True, directory_id=CONTOSO)

    legacy_migrate(tenant=tenant_a)

    feature = Feature.objects.get(feature_type="universal_print")
    assert feature.enabled and feature.consent_state == ConsentState.NEEDS_CONSENT
    assert "Reapply Consents" in feature.consent_reason


def test_cloud_services_without_a_directory_lets_each_user_consent(legacy_apps: Any, tenant_a: Any) -> None:
    LegacyCloudServicesSettings.objects.create(tenant=tenant_a, onedrive_enabled=True)

    legacy_migrate(tenant=tenant_a)

    integration = Integration.objects.get()
    assert integration.directory_id == ""
    onedrive = feature_of(integration, "onedrive")
    assert onedrive.enabled and onedrive.consent_state == ConsentState.PER_USER
    assert not feature_of(integration, "user_sync").enabled


def test_a_feature_already_enabled_in_another_integration_is_carried_over_disabled(
    legacy_apps: Any, admin_a: Any
) -> None:
    current = manual_integration(admin_a, name="Contoso today")
    feature_enable(feature=consented(feature_of(current, "user_sync")))
    LegacyUserSyncSettings.objects.create(
        tenant=admin_a.tenant, enabled=True, directory_id=CONTOSO, admin_consent_granted_at=timezone.now()
    )

    legacy_migrate(tenant=admin_a.tenant)

    legacy = Integration.objects.get(is_legacy=True)
    assert not feature_of(legacy, "user_sync").enabled
    event = AuditEvent.objects.get(action="integration.legacy_migrated")
    assert "already enabled in “Contoso today”" in " ".join(event.details["notes"])


def test_user_tokens_from_another_directory_are_deleted_and_the_user_asked_to_reconnect(
    legacy_apps: Any, tenant_a: Any
) -> None:
    row = LegacyCloudServicesSettings.objects.create(tenant=tenant_a, onedrive_enabled=True, directory_id=CONTOSO)
    stays: Any = UserFactory(tenant=tenant_a)
    elsewhere: Any = UserFactory(tenant=tenant_a)
    kept = MicrosoftCredentialFactory(
        tenant=tenant_a, owner_type="legacy_cloud_storage", owner_id=row.pk, client_id=LEGACY_APP, user=stays
    )
    MicrosoftCredentialFactory(
        tenant=tenant_a,
        owner_type="legacy_cloud_storage",
        owner_id=row.pk,
        client_id=LEGACY_APP,
        user=elsewhere,
        directory_id=FABRIKAM,
    )

    legacy_migrate(tenant=tenant_a)

    assert list(MicrosoftCredential.objects.values_list("pk", flat=True)) == [kept.pk]
    elsewhere.refresh_from_db()
    stays.refresh_from_db()
    assert elsewhere.microsoft_reconnect_required and not stays.microsoft_reconnect_required


def test_other_tenants_tokens_are_never_moved(legacy_apps: Any, tenant_a: Any, tenant_b: Any) -> None:
    _legacy(tenant_a, user_sync=True, universal_print=None, cloud=None)
    row_b = LegacyUserSyncSettings.objects.create(tenant=tenant_b, enabled=True, directory_id=FABRIKAM)
    theirs = MicrosoftCredentialFactory(
        tenant=tenant_b, owner_type="legacy_user_sync", owner_id=row_b.pk, client_id=LEGACY_USER_SYNC_APP
    )

    legacy_migrate(tenant=tenant_a)

    theirs.refresh_from_db()
    assert theirs.owner_type == "legacy_user_sync"


def test_the_legacy_app_id_is_pre_filled_in_set_up_manually(
    legacy_apps: Any, admin_a: Any, admin_a_client: Any
) -> None:
    assert legacy_application_id_for(tenant=admin_a.tenant) is None
    LegacyCloudServicesSettings.objects.create(tenant=admin_a.tenant, onedrive_enabled=True)

    assert legacy_application_id_for(tenant=admin_a.tenant) == LEGACY_APP
    page = admin_a_client.get(reverse("integrations:add_manual")).content.decode()
    assert f'value="{LEGACY_APP}"' in page


def test_django_admin_action_runs_the_migration_for_the_selected_tenant(
    legacy_apps: Any, tenant_a: Any, tenant_b: Any
) -> None:
    from django.contrib.messages.storage.fallback import FallbackStorage

    from accounts.models import User

    _legacy(tenant_a, user_sync=True, universal_print=True, cloud=None)
    LegacyUserSyncSettings.objects.create(tenant=tenant_b, enabled=True, directory_id=FABRIKAM)
    operator = User.objects.create_superuser("operator", "operator@roger.example", "pw")
    request: Any = RequestFactory().post("/admin/")
    request.user = operator
    request.session = {}
    request._messages = FallbackStorage(request)
    model_admin: Any = site._registry[LegacyUserSyncSettings]

    model_admin.run_migration(request, LegacyUserSyncSettings.objects.filter(tenant=tenant_a))

    assert list(Integration.objects.values_list("tenant__name", flat=True)) == ["alpha"]
    event = AuditEvent.objects.get(action="integration.legacy_migrated")
    assert event.actor == operator


def test_django_admin_lists_the_legacy_settings(legacy_apps: Any, tenant_a: Any, client: Any) -> None:
    from accounts.models import User

    _legacy(tenant_a, user_sync=True, universal_print=True, cloud=True)
    client.force_login(User.objects.create_superuser("operator", "operator@roger.example", "pw"))
    for model in ("legacyusersyncsettings", "legacyuniversalprintsettings", "legacycloudservicessettings"):
        page = client.get(reverse(f"admin:integrations_{model}_changelist"))
        assert page.status_code == 200 and "Run migration for this tenant" in page.content.decode()
