"""A sync against the emulator over real sockets: the first full read, then deltas of every kind of change."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import services as accounts_services
from accounts.choices import Role, UserSource
from accounts.models import User
from audit.models import AuditEvent
from tests.factories import AdminFactory, UserFactory
from tests.user_sync.conftest import (
    ADELE,
    ALEX,
    CONTOSO,
    CONTOSO_ENABLED_MEMBERS,
    FABRIKAM,
    sync,
    sync_feature_enabled,
)
from user_sync.choices import ChangeAction, RunKind, RunStatus
from user_sync.models import SyncChange
from user_sync.services.runs import settings_for

# The statement a step sends when the users table grew: the columns the lookups' plans read, and the aliases.
ANALYZE_USERS = (
    'ANALYZE (SKIP_LOCKED) "accounts_user" ("tenant_id", "email", "directory_tenant_id", "directory_object_id", '
    '"card", "full_name_lower", "cost_center_id", "is_active", "role", "source"), "accounts_alias"'
)


def synced(tenant: Any) -> Any:
    return User.objects.filter(tenant=tenant, source=UserSource.SYNCED, directory_tenant_id=CONTOSO)


def test_first_sync_reads_the_whole_directory_and_creates_its_member_users(sync_settings: Any, tenant_a: Any) -> None:
    run = sync(sync_settings)

    assert run.status == RunStatus.SUCCEEDED and run.full_read
    assert run.created == CONTOSO_ENABLED_MEMBERS and run.conflicts == 0
    adele = User.objects.get(tenant=tenant_a, email=ADELE)
    assert adele.full_name == "Adele Vance" and adele.source == UserSource.SYNCED and adele.is_active
    assert adele.directory_tenant_id == CONTOSO and adele.directory_object_id == "a1b2c3d4-0002-4000-8000-00000000c002"
    assert not adele.has_usable_password()
    # The disabled former employee and the guest are not created.
    assert not User.objects.filter(email__startswith="former.employee").exists()
    assert not synced(tenant_a).filter(email__contains="#ext#").exists()
    sync_settings.refresh_from_db()
    assert sync_settings.users_delta_link and "$deltatoken" in sync_settings.users_delta_link
    assert AuditEvent.objects.filter(action="user_sync.sync_finished", target_id=str(run.pk)).exists()


def test_delta_add_change_rename_disable_delete_restore(m365: Any, sync_settings: Any, tenant_a: Any) -> None:
    sync(sync_settings)
    control = m365.control
    control.add_user(CONTOSO, "new.person@contoso.onmicrosoft.com", displayName="New Person")
    control.update_user(CONTOSO, ADELE, displayName="Adele V.")
    control.update_user(
        CONTOSO, ALEX, userPrincipalName="alex.w@contoso.onmicrosoft.com", mail="alex.w@contoso.onmicrosoft.com"
    )
    control.disable_user(CONTOSO, "lee.gu@contoso.onmicrosoft.com")
    control.delete_user(CONTOSO, "nestor.wilke@contoso.onmicrosoft.com")
    alex_id = User.objects.get(email=ALEX).pk

    run = sync(sync_settings)

    assert not run.full_read and run.status == RunStatus.SUCCEEDED
    assert (run.created, run.updated, run.deactivated) == (1, 2, 2)
    assert User.objects.get(email="new.person@contoso.onmicrosoft.com").full_name == "New Person"
    assert User.objects.get(email=ADELE).full_name == "Adele V."
    renamed = User.objects.get(pk=alex_id)  # keyed on the object id: the same user, renamed
    assert renamed.email == "alex.w@contoso.onmicrosoft.com" and renamed.username.endswith(
        "/alex.w@contoso.onmicrosoft.com"
    )
    assert not User.objects.get(email="lee.gu@contoso.onmicrosoft.com").is_active
    assert not User.objects.get(email="nestor.wilke@contoso.onmicrosoft.com").is_active  # deactivated, not deleted
    why = dict(SyncChange.objects.filter(run=run, action=ChangeAction.DEACTIVATED).values_list("name", "detail"))
    assert any("disabled in the directory" in detail for detail in why.values())
    assert any("deleted in the directory" in detail for detail in why.values())

    control.restore_user(CONTOSO, "nestor.wilke@contoso.onmicrosoft.com")
    control.update_user(CONTOSO, "lee.gu@contoso.onmicrosoft.com", accountEnabled=True)
    run = sync(sync_settings)
    assert run.reactivated == 2
    assert User.objects.get(email="nestor.wilke@contoso.onmicrosoft.com").is_active
    assert User.objects.get(email="lee.gu@contoso.onmicrosoft.com").is_active


def test_local_users_and_another_directorys_users_are_never_touched(
    m365: Any, sync_settings: Any, tenant_a: Any, admin_a: Any
) -> None:
    local = UserFactory(tenant=tenant_a, email="local.person@alpha.example", full_name="Local Person")
    other = UserFactory(
        tenant=tenant_a,
        email="megan.bowen@fabrikam.onmicrosoft.com",
        source=UserSource.SYNCED,
        directory_tenant_id=FABRIKAM,
        directory_object_id="b1b2c3d4-0002-4000-8000-00000000f002",
    )
    sync(sync_settings)
    m365.control.delete_user(CONTOSO, ADELE)
    run = sync(sync_settings)
    assert run.deactivated == 1
    for person in (local, other, admin_a):
        before = (person.email, person.full_name, person.is_active, person.source)
        person.refresh_from_db()
        assert (person.email, person.full_name, person.is_active, person.source) == before


def test_a_second_directorys_sync_leaves_the_first_directorys_users_alone(
    m365: Any, sync_settings: Any, tenant_a: Any, admin_a: Any
) -> None:
    sync(sync_settings)
    fabrikam = settings_for(sync_feature_enabled(m365, admin_a, directory_id=FABRIKAM, name="Fabrikam"))
    fabrikam.threshold_percent = 100
    fabrikam.save()
    run = sync(fabrikam)
    assert run.created == 5 and run.deactivated == 0
    assert synced(tenant_a).filter(is_active=True).count() == CONTOSO_ENABLED_MEMBERS


def test_preview_writes_nothing_to_users(m365: Any, sync_settings: Any, tenant_a: Any) -> None:
    before = list(User.objects.order_by("pk").values_list("pk", "email", "is_active"))
    run = sync(sync_settings, kind=RunKind.PREVIEW)
    assert run.status == RunStatus.SUCCEEDED and run.created == CONTOSO_ENABLED_MEMBERS
    assert list(User.objects.order_by("pk").values_list("pk", "email", "is_active")) == before
    assert SyncChange.objects.filter(run=run, action=ChangeAction.CREATED, name__contains=ADELE).exists()
    sync_settings.refresh_from_db()
    assert sync_settings.users_delta_link == ""

    sync(sync_settings)
    m365.control.delete_user(CONTOSO, ADELE)
    before = list(User.objects.order_by("pk").values_list("pk", "email", "is_active"))
    preview = sync(sync_settings, kind=RunKind.PREVIEW)
    assert preview.deactivated == 1
    assert list(User.objects.order_by("pk").values_list("pk", "email", "is_active")) == before
    assert sync(sync_settings).deactivated == 1  # the preview did not use up the change


def test_conflicts_are_recorded_and_the_page_goes_on(m365: Any, sync_settings: Any, tenant_a: Any) -> None:
    admin = AdminFactory(tenant=tenant_a, email=ALEX)  # an admin account with a directory user's address
    other = UserFactory(
        tenant=tenant_a, email=ADELE, source=UserSource.SYNCED, directory_tenant_id=FABRIKAM, directory_object_id="x"
    )
    run = sync(sync_settings)
    assert run.status == RunStatus.SUCCEEDED
    assert run.conflicts == 2 and run.created == CONTOSO_ENABLED_MEMBERS - 2
    details = " ".join(
        SyncChange.objects.filter(run=run, action=ChangeAction.CONFLICT).values_list("detail", flat=True)
    )
    assert "never links an admin account" in details and "Fix:" in details
    admin.refresh_from_db()
    other.refresh_from_db()
    assert admin.directory_object_id == "" and admin.role == Role.ADMIN and other.directory_tenant_id == FABRIKAM


def test_a_full_read_links_a_local_user_with_the_same_address(sync_settings: Any, tenant_a: Any) -> None:
    local = UserFactory(tenant=tenant_a, email=ADELE, full_name="Adele (local)")
    run = sync(sync_settings)
    assert run.linked == 1
    assert AuditEvent.objects.filter(action="user_sync.user_linked", target_id=str(local.pk)).exists()
    local.refresh_from_db()
    assert (
        local.source == UserSource.SYNCED and local.directory_tenant_id == CONTOSO and local.full_name == "Adele Vance"
    )


def test_two_users_swapping_addresses_in_one_delta(m365: Any, sync_settings: Any) -> None:
    sync(sync_settings)
    adele, alex = User.objects.get(email=ADELE), User.objects.get(email=ALEX)
    m365.control.update_user(CONTOSO, ADELE, mail="swap@contoso.onmicrosoft.com")
    m365.control.update_user(CONTOSO, ALEX, mail=ADELE)
    m365.control.update_user(CONTOSO, ADELE, mail=ALEX)  # users are named by UPN here, which stays
    run = sync(sync_settings)
    assert run.conflicts == 0 and run.updated == 2
    adele.refresh_from_db()
    alex.refresh_from_db()
    assert (adele.email, alex.email) == (ALEX, ADELE)


def test_a_deactivated_user_can_no_longer_sign_in_and_their_session_ends(
    m365: Any, sync_settings: Any, tenant_a: Any
) -> None:
    from django.contrib.auth import authenticate
    from django.test import Client
    from django.urls import reverse

    sync(sync_settings)
    adele = User.objects.get(email=ADELE)
    adele.set_password("Adele-Local-1")
    adele.save()
    browser = Client()
    browser.force_login(adele)
    assert browser.get(reverse("dashboard")).status_code == 200
    m365.control.delete_user(CONTOSO, ADELE)
    sync(sync_settings)
    adele.refresh_from_db()
    assert not adele.is_active and adele.deactivation_reason.startswith("User Synchronization: deleted")
    assert browser.get(reverse("dashboard")).status_code == 302  # the session ended
    assert authenticate(username=adele.username, password="Adele-Local-1") is None


def test_a_user_linked_by_a_sign_in_is_synchronized_an_admin_is_not(sync_settings: Any, tenant_a: Any) -> None:
    adele = UserFactory(
        tenant=tenant_a,
        email=ADELE,
        full_name="Adele (signed in)",
        directory_tenant_id=CONTOSO,
        directory_object_id="a1b2c3d4-0002-4000-8000-00000000c002",
    )
    admin = AdminFactory(
        tenant=tenant_a,
        email=ALEX,
        full_name="Alex (admin)",
        directory_tenant_id=CONTOSO,
        directory_object_id="a1b2c3d4-0003-4000-8000-00000000c003",
    )
    run = sync(sync_settings)
    assert run.linked == 1 and run.conflicts == 0
    adele.refresh_from_db()
    admin.refresh_from_db()
    assert adele.source == UserSource.SYNCED and adele.full_name == "Adele Vance"
    assert admin.source == UserSource.LOCAL and admin.full_name == "Alex (admin)"


def test_a_sync_that_fills_the_users_table_refreshes_its_statistics(
    monkeypatch: pytest.MonkeyPatch, sync_settings: Any
) -> None:
    """PostgreSQL plans a page's lookups on the table's statistics: a sync that grows the table analyzes it (here
    from 4 created users, doubling) instead of waiting for autovacuum; a delta that creates nobody does not."""
    monkeypatch.setattr(accounts_services, "STATISTICS_FIRST", 4)
    with CaptureQueriesContext(connection) as first:
        run = sync(sync_settings)
    analyzed = [q["sql"] for q in first.captured_queries if q["sql"].startswith("ANALYZE")]
    assert run.created == CONTOSO_ENABLED_MEMBERS
    assert analyzed and analyzed[0] == ANALYZE_USERS

    with CaptureQueriesContext(connection) as delta:
        sync(sync_settings)
    assert not [q for q in delta.captured_queries if q["sql"].startswith("ANALYZE")]
