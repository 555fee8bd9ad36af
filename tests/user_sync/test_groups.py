"""Groups, memberships and cost centers from the directory's groups: each Selection Mode, with and without
"Sync only users in selected groups", a large group split over pages, and cost centers from a root group."""

from __future__ import annotations

from typing import Any

from accounts.models import CostCenter, Group, GroupMembership, User
from tests.user_sync.conftest import (
    ADELE,
    ALEX,
    COLOR_PRINTING,
    CONTOSO,
    CONTOSO_ENABLED_MEMBERS,
    COST_CENTERS_ROOT,
    MARKETING_TEAM,
    sync,
)
from user_sync.choices import CostCenterMode, RunStatus, SelectionMode

ALL_CONTOSO = "a1b2c3d4-1008-4000-8000-00000000c108"


def members(group_id: str) -> set[str]:
    return set(
        GroupMembership.objects.filter(group__directory_object_id=group_id).values_list("user__email", flat=True)
    )


def emulator_members(m365: Any, group_id: str) -> set[str]:
    """The emails of the group's members in the directory that the sync knows."""
    ids = m365.control.directory_group(CONTOSO, group_id)["members"]
    return set(User.objects.filter(directory_object_id__in=ids).values_list("email", flat=True))


def test_all_groups_and_their_members_a_large_group_split_over_pages(m365: Any, sync_settings: Any) -> None:
    m365.control.set_graph_options(delta_page_size=3, delta_members_per_page=7)  # All Contoso's 32 over 5 pages
    sync_settings.sync_groups = True
    sync_settings.selection_mode = SelectionMode.ALL
    sync_settings.save()
    run = sync(sync_settings)
    assert run.status == RunStatus.SUCCEEDED and run.groups_seen >= 11
    assert Group.objects.filter(directory_tenant_id=CONTOSO).count() == 11
    everyone = members(ALL_CONTOSO)
    assert everyone == emulator_members(m365, ALL_CONTOSO) and len(everyone) >= CONTOSO_ENABLED_MEMBERS - 2
    assert ADELE in everyone


def test_delta_membership_added_and_removed_and_a_group_renamed(m365: Any, sync_settings: Any) -> None:
    sync_settings.sync_groups = True
    sync_settings.save()
    sync(sync_settings)
    assert ADELE not in members(MARKETING_TEAM)
    m365.control.add_members(CONTOSO, MARKETING_TEAM, [ADELE])
    m365.control.remove_members(CONTOSO, MARKETING_TEAM, [ALEX])
    m365.control.update_group(CONTOSO, MARKETING_TEAM, displayName="Marketing")
    run = sync(sync_settings)
    assert not run.full_read
    assert ADELE in members(MARKETING_TEAM) and ALEX not in members(MARKETING_TEAM)
    assert Group.objects.get(directory_object_id=MARKETING_TEAM).name == "Marketing"
    m365.control.delete_group(CONTOSO, COLOR_PRINTING)
    sync(sync_settings)
    assert not Group.objects.filter(directory_object_id=COLOR_PRINTING).exists()


def test_selected_groups_every_user_synced(sync_settings: Any) -> None:
    sync_settings.sync_groups = True
    sync_settings.selection_mode = SelectionMode.SELECTED
    sync_settings.selected_group_ids = MARKETING_TEAM
    sync_settings.save()
    run = sync(sync_settings)
    assert run.created == CONTOSO_ENABLED_MEMBERS
    assert list(Group.objects.filter(directory_tenant_id=CONTOSO).values_list("directory_object_id", flat=True)) == [
        MARKETING_TEAM
    ]
    assert ALEX in members(MARKETING_TEAM)


def test_selected_groups_only_their_members(m365: Any, sync_settings: Any) -> None:
    sync_settings.sync_groups = True
    sync_settings.selection_mode = SelectionMode.SELECTED
    sync_settings.selected_group_ids = MARKETING_TEAM
    sync_settings.only_selected_members = True
    sync_settings.save()
    run = sync(sync_settings)
    synced = set(User.objects.filter(directory_tenant_id=CONTOSO).values_list("email", flat=True))
    assert ALEX in synced and ADELE not in synced
    assert run.created == len(synced) and len(synced) <= 5
    # A member removed from the group is out of scope: deactivated; one added comes in (a full read).
    m365.control.remove_members(CONTOSO, MARKETING_TEAM, [ALEX])
    m365.control.add_members(CONTOSO, MARKETING_TEAM, [ADELE])
    run = sync(sync_settings)
    assert run.full_read and any("members changed" in note for note in run.notes)
    assert not User.objects.get(email=ALEX).is_active
    assert User.objects.get(email=ADELE).is_active


def test_cost_centers_from_a_root_group(m365: Any, sync_settings: Any, tenant_a: Any) -> None:
    sync_settings.sync_groups = True
    sync_settings.cost_center_mode = CostCenterMode.ROOT_GROUP
    sync_settings.cost_center_root_group_id = COST_CENTERS_ROOT
    sync_settings.save()
    sync(sync_settings)
    centers = set(CostCenter.objects.filter(tenant=tenant_a).values_list("name", flat=True))
    assert "CC 2000 Sales & Marketing" in centers and len(centers) == 6
    assert User.objects.get(email=ADELE).cost_center.name == "CC 2000 Sales & Marketing"
    engineering = "a1b2c3d4-1004-4000-8000-00000000c104"
    m365.control.remove_members(CONTOSO, "a1b2c3d4-1003-4000-8000-00000000c103", [ADELE])
    m365.control.add_members(CONTOSO, engineering, [ADELE])
    sync(sync_settings)
    assert User.objects.get(email=ADELE).cost_center.directory_object_id == engineering
