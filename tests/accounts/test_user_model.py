"""The shared user contract: cards, PINs, aliases, groups, cost centers, and deactivation with what follows it."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from accounts.choices import Role
from accounts.errors import LastAdminError
from accounts.models import Alias, CostCenter, Group, GroupMembership, User
from accounts.selectors import user_by_identity
from accounts.services import user_deactivate, user_reactivate, user_role_set, users_deactivate, users_reactivate
from accounts.signals import user_deactivated, user_reactivated
from audit.models import AuditEvent
from credentials.models import MicrosoftCredential
from print_jobs.choices import JobStatus
from print_jobs.models import PrintJob
from print_jobs.services import print_job_create, print_job_release
from tests.factories import (
    AdminFactory,
    FeatureFactory,
    IntegrationFactory,
    MicrosoftCredentialFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def job(owner, key):
    return print_job_create(
        owner=owner,
        source="email",
        source_key=key,
        title=f"{key}.pdf",
        content=b"%PDF-1.4",
        content_type="application/pdf",
    )[0]


def test_the_pin_is_stored_hashed_and_checks(user_a):
    user_a.set_pin("4711")
    user_a.save()
    user_a.refresh_from_db()
    assert "4711" not in user_a.pin_hash and user_a.has_pin
    assert user_a.check_pin("4711") and not user_a.check_pin("4712")
    user_a.set_pin("")
    assert not user_a.has_pin and not user_a.check_pin("")


def test_a_card_is_unique_in_its_tenant_only_when_set(tenant_a, tenant_b):
    UserFactory(tenant=tenant_a, card="")
    UserFactory(tenant=tenant_a, card="")
    UserFactory(tenant=tenant_a, card="C-1")
    UserFactory(tenant=tenant_b, card="C-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(tenant=tenant_a, card="C-1")


def test_aliases_are_unique_per_tenant_in_any_case_and_apart_from_email_aliases(user_a, admin_a, admin_b):
    alias = Alias.objects.create(user=user_a, name="Pat.Smith")
    assert alias.tenant_id == user_a.tenant_id and alias.name_lower == "pat.smith"
    Alias.objects.create(user=admin_b, name="pat.smith")  # another tenant
    with pytest.raises(IntegrityError), transaction.atomic():
        Alias.objects.create(user=admin_a, name="PAT.SMITH")
    assert list(user_a.sign_in_aliases.all()) == [alias] and not user_a.aliases.exists()


def test_groups_through_memberships_and_a_cost_center(tenant_a, user_a, admin_a):
    synced = Group.objects.create(tenant=tenant_a, name="Sales", directory_tenant_id="d", directory_object_id="g1")
    local = Group.objects.create(tenant=tenant_a, name="Print room")
    Group.objects.create(tenant=tenant_a, name="Local twin")  # blank directory ids never collide
    GroupMembership.objects.bulk_create(
        [GroupMembership(group=synced, user=user_a), GroupMembership(group=local, user=user_a)]
    )
    assert set(user_a.groups.all()) == {synced, local} and list(synced.users.all()) == [user_a]
    with pytest.raises(IntegrityError), transaction.atomic():
        Group.objects.create(tenant=tenant_a, name="Renamed", directory_tenant_id="d", directory_object_id="g1")

    center = CostCenter.objects.create(tenant=tenant_a, name="Marketing")
    user_a.cost_center = center
    user_a.save()
    center.delete()
    user_a.refresh_from_db()
    assert user_a.cost_center is None
    with pytest.raises(IntegrityError), transaction.atomic():
        CostCenter.objects.bulk_create([CostCenter(tenant=tenant_a, name="X"), CostCenter(tenant=tenant_a, name="x")])


def test_a_user_generated_search_name_follows_bulk_writes(tenant_a):
    user = UserFactory(tenant=tenant_a, full_name="Adele Vance")
    User.objects.filter(pk=user.pk).update(full_name="Adele VANCE-Smith")
    assert User.objects.filter(tenant=tenant_a, full_name_lower__startswith="adele vance-").exists()


def test_the_identity_link_finds_the_user_in_its_tenant_only(tenant_a, tenant_b):
    user = UserFactory(tenant=tenant_a, directory_tenant_id="dir-1", directory_object_id="oid-1")
    assert user_by_identity(tenant=tenant_a, directory_id="DIR-1", object_id="oid-1") == user
    assert user_by_identity(tenant=tenant_b, directory_id="dir-1", object_id="oid-1") is None


def test_deactivation_ends_sessions_at_once_and_they_stay_ended_after_reactivation(admin_a, user_a, user_a_client):
    jobs_page = reverse("print_jobs:list")
    assert user_a_client.get(jobs_page).status_code == 200

    assert user_deactivate(user_a, actor=admin_a, reason="Left the company")
    assert user_a_client.get(jobs_page).status_code == 302  # to the sign-in page: the session is gone
    user_a.refresh_from_db()
    assert not user_a.is_active and user_a.deactivated_at and user_a.deactivation_reason == "Left the company"
    event = AuditEvent.objects.get(action="user.deactivated")
    assert (event.actor, event.target_id, event.details) == (admin_a, str(user_a.pk), {"reason": "Left the company"})
    assert not user_deactivate(user_a, actor=admin_a, reason="again")  # nothing to do

    assert user_reactivate(user_a, actor=admin_a)
    assert user_a.is_active and user_a.deactivated_at is None and user_a.deactivation_reason == ""
    assert user_a_client.get(jobs_page).status_code == 302  # the old session does not come back
    assert AuditEvent.objects.filter(action="user.reactivated", target_id=str(user_a.pk)).count() == 1


def test_waiting_jobs_are_held_not_printed_and_history_is_kept(admin_a, user_a):
    waiting, printed = job(user_a, "a"), job(user_a, "b")
    print_job_release(job=printed, actor=admin_a)
    colleague_job = job(admin_a, "c")

    user_deactivate(user_a, actor=admin_a, reason="Leave")
    statuses = dict(PrintJob.objects.values_list("source_key", "status"))
    assert statuses == {"a": JobStatus.HELD, "b": JobStatus.PRINTED, "c": JobStatus.READY}
    assert not print_job_release(job=waiting, actor=admin_a)
    assert job(user_a, "d").status == JobStatus.HELD  # arriving while deactivated

    user_reactivate(user_a, actor=admin_a)
    statuses = dict(PrintJob.objects.values_list("source_key", "status"))
    assert statuses == {"a": JobStatus.READY, "b": JobStatus.PRINTED, "c": JobStatus.READY, "d": JobStatus.READY}
    assert colleague_job.pk


def test_the_onedrive_connection_stops(admin_a, user_a, tenant_a):
    integration = IntegrationFactory(tenant=tenant_a, features=False)
    onedrive = FeatureFactory(integration=integration, feature_type="onedrive")
    other = FeatureFactory(integration=integration, feature_type="login")
    MicrosoftCredentialFactory(tenant=tenant_a, owner_id=onedrive.pk, user=user_a)
    MicrosoftCredentialFactory(tenant=tenant_a, owner_id=onedrive.pk, user=admin_a)
    MicrosoftCredentialFactory(tenant=tenant_a, owner_id=other.pk, user=user_a)

    user_deactivate(user_a, actor=admin_a, reason="Leave")
    left = set(MicrosoftCredential.objects.values_list("owner_id", "user_id"))
    assert left == {(onedrive.pk, admin_a.pk), (other.pk, user_a.pk)}
    assert AuditEvent.objects.filter(action="credential.deleted", actor=admin_a).count() == 1


def test_the_last_active_admin_can_be_neither_deactivated_nor_demoted(admin_a, user_a):
    with pytest.raises(LastAdminError, match="last active admin"):
        user_deactivate(admin_a, actor=admin_a, reason="oops")
    with pytest.raises(LastAdminError, match="last active admin"):
        user_role_set(admin_a, actor=admin_a, role=Role.USER)
    admin_a.refresh_from_db()
    assert admin_a.is_active and admin_a.role == Role.ADMIN

    second = AdminFactory(tenant=admin_a.tenant)
    assert user_role_set(admin_a, actor=second, role=Role.USER)
    with pytest.raises(LastAdminError):
        user_deactivate(second, actor=second, reason="x")
    assert AuditEvent.objects.filter(action="user.role_changed", details={"from": "admin", "to": "user"}).exists()


def test_an_admin_of_another_tenant_does_not_count(admin_a, admin_b):
    with pytest.raises(LastAdminError):
        user_deactivate(admin_a, actor=None, reason="x")


def test_bulk_changes_keep_one_admin_and_signal_once_per_tenant(tenant_a, tenant_b, admin_a, admin_b, user_a):
    other_admin = AdminFactory(tenant=tenant_a)
    plain_b = UserFactory(tenant=tenant_b)
    received: list[tuple[str, int, list[int]]] = []

    def deactivated(sender, *, tenant, user_ids, actor, **kwargs):
        received.append(("off", tenant.pk, sorted(user_ids)))

    def reactivated(sender, *, tenant, user_ids, actor, **kwargs):
        received.append(("on", tenant.pk, sorted(user_ids)))

    user_deactivated.connect(deactivated)
    user_reactivated.connect(reactivated)
    try:
        everyone = User.objects.filter(pk__in=[admin_a.pk, other_admin.pk, user_a.pk, plain_b.pk])
        changed = users_deactivate(everyone, actor=None, reason="Removed from the directory")
        assert changed.protected_ids == [admin_a.pk]  # the lowest id of the tenant's admins stays
        assert sorted(changed.user_ids) == sorted([other_admin.pk, user_a.pk, plain_b.pk])
        assert received == [
            ("off", tenant_a.pk, sorted([other_admin.pk, user_a.pk])),
            ("off", tenant_b.pk, [plain_b.pk]),
        ]
        assert AuditEvent.objects.filter(action="user.deactivated", actor_label="system").count() == 3

        received.clear()
        again = users_reactivate(everyone, actor=None)
        assert sorted(again.user_ids) == sorted(changed.user_ids)
        assert [r[0] for r in received] == ["on", "on"]
        assert users_reactivate(everyone, actor=None).user_ids == []
    finally:
        user_deactivated.disconnect(deactivated)
        user_reactivated.disconnect(reactivated)
    assert User.objects.filter(is_active=True).count() == 5
