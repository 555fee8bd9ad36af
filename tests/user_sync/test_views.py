"""Administration > User Synchronization: the page, its settings, Sync now and Preview, run details; every object
URL is 404 to another Roger tenant's admin."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.choices import UserSource
from audit.models import AuditEvent
from tests.ui.live_race import followed, work_after_read
from tests.user_sync.conftest import ADELE, COST_CENTERS_ROOT, MARKETING_TEAM, steps, sync
from user_sync.choices import RunKind, RunStatus
from user_sync.models import SyncRun
from user_sync.services.runs import run_start


def _form(settings: Any, **values: Any) -> dict[str, Any]:
    data = {
        "auto_sync": "",
        "sync_groups": "",
        "selection_mode": "all",
        "selected_group_ids": "",
        "group_attribute": "department",
        "cost_center_mode": "none",
        "cost_center_root_group_id": "",
        "cost_center_attribute": "costCenter",
        "alias_formats": "",
        "card_attribute": "",
        "threshold_percent": "10",
        **values,
    }
    return {f"s{settings.pk}-{k}": v for k, v in data.items() if v != ""}


def test_the_page_shows_the_connector_and_the_integration_links_to_it(
    admin_a_client: Client, sync_settings: Any
) -> None:
    page = admin_a_client.get(reverse("user_sync:page"))
    assert page.status_code == 200
    text = page.content.decode()
    assert f'id="sync-now-{sync_settings.pk}"' in text and "Selection Mode" in text and "Send PIN email" in text
    detail = admin_a_client.get(reverse("integrations:detail", args=[sync_settings.feature.integration_id]))
    assert reverse("user_sync:page") in detail.content.decode()


def test_without_the_feature_the_page_points_to_enabling_it(admin_a_client: Client) -> None:
    page = admin_a_client.get(reverse("user_sync:page"))
    assert 'id="not-set-up"' in page.content.decode()


def test_settings_refuse_unknown_alias_fields_and_name_the_allowed_ones(
    admin_a_client: Client, sync_settings: Any
) -> None:
    response = admin_a_client.post(
        reverse("user_sync:settings", args=[sync_settings.pk]),
        _form(sync_settings, alias_formats="%givenName%.%shoeSize%"),
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert "Unknown field: shoeSize" in text and "employeeId" in text


def test_settings_name_group_ids_the_directory_does_not_have(admin_a_client: Client, sync_settings: Any) -> None:
    unknown = "00000000-0000-4000-8000-000000000bad"
    response = admin_a_client.post(
        reverse("user_sync:settings", args=[sync_settings.pk]),
        _form(
            sync_settings,
            sync_groups="on",
            selection_mode="selected",
            selected_group_ids=f"{MARKETING_TEAM}, {unknown}",
        ),
    )
    assert response.status_code == 400
    assert f"Not a group of the directory: {unknown}" in response.content.decode()


def test_settings_saved_with_groups_the_directory_has(admin_a_client: Client, sync_settings: Any) -> None:
    response = admin_a_client.post(
        reverse("user_sync:settings", args=[sync_settings.pk]),
        _form(
            sync_settings,
            auto_sync="on",
            sync_groups="on",
            selection_mode="selected",
            selected_group_ids=MARKETING_TEAM,
            cost_center_mode="root_group",
            cost_center_root_group_id=COST_CENTERS_ROOT,
            alias_formats="%givenName%.%surName%;%surname%-%givenName%",
            card_attribute="employeeId",
        ),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    sync_settings.refresh_from_db()
    assert sync_settings.selected_groups == [MARKETING_TEAM] and sync_settings.card_attribute == "employeeId"
    assert sync_settings.auto_sync and sync_settings.next_attempt_at is not None  # 24 hours from now


def test_sync_now_while_a_run_is_under_way_changes_nothing(admin_a_client: Client, sync_settings: Any) -> None:
    first = admin_a_client.post(reverse("user_sync:sync_now", args=[sync_settings.pk]), follow=True)
    assert "Synchronization started" in first.content.decode()
    second = admin_a_client.post(reverse("user_sync:sync_now", args=[sync_settings.pk]), follow=True)
    assert "already running" in second.content.decode()
    assert SyncRun.objects.filter(settings=sync_settings).count() == 1


def test_run_details_say_who_changed_and_why(admin_a_client: Client, sync_settings: Any) -> None:
    run = sync(sync_settings)
    assert run.status == RunStatus.SUCCEEDED
    page = admin_a_client.get(reverse("user_sync:run", args=[run.pk]))
    assert ADELE in page.content.decode() and "New in the directory" in page.content.decode()
    status = admin_a_client.get(reverse("user_sync:status", args=[sync_settings.pk]))
    assert f"{run.created} created" in status.content.decode()
    # The live status carries the history: the run ended shows as done there as well, without a reload.
    assert f'<tr id="run-{run.pk}">' in status.content.decode() and "Done" in status.content.decode()
    history = admin_a_client.get(reverse("user_sync:page")).content.decode()
    assert f"<td>{run.created} created</td>" in history  # the counts that are not zero, in words
    for raw in ("0:00:", "<dd>None</dd>", "<td>None</td>"):  # durations in words
        assert raw not in history


def test_a_run_says_what_it_did_in_a_few_words() -> None:
    assert SyncRun(created=31, linked=1, conflicts=1).outcome == "31 created, 1 linked, 1 conflict"
    assert SyncRun(updated=2, errors=2, held=5).outcome == "2 updated, 5 deactivations held, 2 errors"
    assert SyncRun(unchanged=40).outcome == "40 unchanged"
    assert SyncRun().outcome == "no changes"


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("user_sync:settings", "post"),
        ("user_sync:sync_now", "post"),
        ("user_sync:preview", "post"),
        ("user_sync:status", "get"),
        ("user_sync:confirm", "post"),
        ("user_sync:keep", "post"),
        ("user_sync:deactivate_stopped", "post"),
    ],
)
def test_another_tenants_admin_gets_404(admin_b_client: Client, sync_settings: Any, name: str, method: str) -> None:
    response = getattr(admin_b_client, method)(reverse(name, args=[sync_settings.pk]))
    assert response.status_code == 404
    assert not SyncRun.objects.exists()


def test_another_tenants_admin_gets_404_on_a_run(admin_b_client: Client, sync_settings: Any) -> None:
    run = sync(sync_settings)
    assert admin_b_client.get(reverse("user_sync:run", args=[run.pk])).status_code == 404


def test_a_user_who_is_not_an_admin_is_kept_out(user_a_client: Client, sync_settings: Any) -> None:
    assert user_a_client.get(reverse("user_sync:page")).status_code in (302, 403)
    assert user_a_client.post(reverse("user_sync:sync_now", args=[sync_settings.pk])).status_code in (302, 403)
    assert not SyncRun.objects.exists()


def test_an_admin_account_is_linked_only_when_an_admin_confirms(
    admin_a_client: Client, admin_b_client: Client, sync_settings: Any, tenant_a: Any
) -> None:
    from accounts.models import User
    from tests.factories import AdminFactory
    from tests.user_sync.conftest import ALEX, CONTOSO
    from user_sync.choices import ChangeAction

    alex = AdminFactory(tenant=tenant_a, email=ALEX)
    run = sync(sync_settings)
    conflict = run.changes.get(action=ChangeAction.CONFLICT, user=alex)
    page = admin_a_client.get(reverse("user_sync:run", args=[run.pk])).content.decode()
    assert f'id="link-{conflict.pk}"' in page
    url = reverse("user_sync:admin_link", args=[run.pk, conflict.pk])
    assert admin_b_client.post(url).status_code == 404
    admin_a_client.post(url)
    alex = User.objects.get(pk=alex.pk)
    assert alex.directory_tenant_id == CONTOSO and alex.directory_object_id == conflict.object_id
    assert alex.source == UserSource.SYNCED
    link = AuditEvent.objects.get(action="user.identity_linked", target_id=str(alex.pk))
    assert link.details["synced"] and link.actor_label != "system"
    assert sync(sync_settings).conflicts == 0  # from now on the sync keeps the admin account up to date


def test_an_admin_account_is_not_linked_to_a_directory_user_another_roger_user_holds(
    admin_a_client: Client, sync_settings: Any, tenant_a: Any
) -> None:
    from accounts.models import User
    from tests.factories import AdminFactory, UserFactory
    from tests.user_sync.conftest import ALEX, CONTOSO
    from user_sync.choices import ChangeAction

    alex = AdminFactory(tenant=tenant_a, email=ALEX)
    run = sync(sync_settings)
    conflict = run.changes.get(action=ChangeAction.CONFLICT, user=alex)
    # held in capitals: an identity is the same whatever the case Graph or a token gave it in
    UserFactory(tenant=tenant_a, directory_tenant_id=CONTOSO, directory_object_id=conflict.object_id.upper())
    page = admin_a_client.post(reverse("user_sync:admin_link", args=[run.pk, conflict.pk]), follow=True)
    assert "Another Roger user is already linked to this directory user." in page.content.decode()
    alex = User.objects.get(pk=alex.pk)
    assert not alex.directory_object_id and alex.source == UserSource.LOCAL
    assert not AuditEvent.objects.filter(action="user.identity_linked").exists()


@pytest.mark.parametrize("reads", [1, 2, 3, 4])
@pytest.mark.parametrize("reader", ["the page", "a poll of the status"])
def test_a_run_ending_while_the_status_is_read_never_leaves_it_synchronizing_for_good(
    admin_a_client: Client, sync_settings: Any, reader: str, reads: int
) -> None:
    """The worker's last step can commit between any two of the status's reads of the runs. Whatever the status
    showed then, once it polled it shows the run's end and stops. (The health was read from the run in progress,
    then the status found no run in progress and was final: "Synchronizing" until a reload.)"""
    run = run_start(settings=sync_settings, kind=RunKind.SYNC, actor=None)
    element_id = f"sync-status-{sync_settings.pk}"
    with work_after_read(('"user_sync_syncrun"',), reads, lambda: steps(run)) as ran:
        if reader == "the page":
            first = admin_a_client.get(reverse("user_sync:page"))
        else:
            # a status that polls since an earlier state (the run's first page, say): it changed since
            url = reverse("user_sync:status", args=[sync_settings.pk])
            first = admin_a_client.get(url, {"v": "earlier"}, headers={"HX-Request": "true"})
    if not ran:
        steps(run)  # the run ended after the status was read
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert first.status_code in (200, 286), first.status_code

    shown, polling, _ = followed(admin_a_client, first.content.decode(), element_id)
    assert f"{run.created} created" in shown and "Synchronized" in shown, shown
    assert "Synchronizing" not in shown and "in progress" not in shown, shown
    assert not polling
