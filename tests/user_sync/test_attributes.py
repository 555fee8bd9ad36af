"""Aliases, cards, cost centers and groups made from user attributes, written in bulk and kept up to date."""

from __future__ import annotations

from typing import Any

from accounts.models import Alias, CostCenter, Group, User
from tests.factories import UserFactory
from tests.user_sync.conftest import ADELE, ALEX, CONTOSO, sync
from user_sync.choices import ChangeAction, CostCenterMode, SelectionMode
from user_sync.models import SyncChange


def test_aliases_from_formats_kept_apart_from_addresses_and_updated(m365: Any, sync_settings: Any) -> None:
    sync_settings.alias_formats = "%givenName%.%surname%;%surname%-%givenName%"
    sync_settings.save()
    sync(sync_settings)
    adele = User.objects.get(email=ADELE)
    assert sorted(adele.sign_in_aliases.values_list("name", flat=True)) == ["adele.vance", "vance-adele"]
    assert not adele.aliases.exists()  # email aliases are another thing
    m365.control.update_user(CONTOSO, ADELE, surname="Vance-Smith")
    sync(sync_settings)
    assert sorted(adele.sign_in_aliases.values_list("name", flat=True)) == ["adele.vance-smith", "vance-smith-adele"]


def test_an_alias_another_user_holds_is_a_conflict(sync_settings: Any, tenant_a: Any) -> None:
    holder = UserFactory(tenant=tenant_a, email="someone@alpha.example")
    Alias.objects.create(user=holder, tenant=tenant_a, name="adele.vance")
    sync_settings.alias_formats = "%givenName%.%surname%"
    sync_settings.save()
    run = sync(sync_settings)
    assert run.conflicts == 1 and run.created > 0
    assert "alias adele.vance is another user's" in SyncChange.objects.get(run=run, action=ChangeAction.CONFLICT).detail
    assert not User.objects.get(email=ADELE).sign_in_aliases.exists()


def test_cards_from_a_directory_attribute(m365: Any, sync_settings: Any) -> None:
    sync_settings.card_attribute = "extensionAttribute1"
    sync_settings.save()
    sync(sync_settings)
    assert User.objects.get(email=ADELE).card == "CARD-100001"
    m365.control.update_user(CONTOSO, ADELE, onPremisesExtensionAttributes={"extensionAttribute1": "CARD-9"})
    run = sync(sync_settings)
    assert run.updated == 1 and User.objects.get(email=ADELE).card == "CARD-9"
    m365.control.update_user(CONTOSO, ALEX, onPremisesExtensionAttributes={"extensionAttribute1": "CARD-9"})
    run = sync(sync_settings)
    assert run.conflicts == 1 and User.objects.get(email=ALEX).card == "CARD-100002"


def test_cost_centers_by_attribute(m365: Any, sync_settings: Any, tenant_a: Any) -> None:
    sync_settings.cost_center_mode = CostCenterMode.ATTRIBUTE
    sync_settings.cost_center_attribute = "costCenter"
    sync_settings.save()
    sync(sync_settings)
    assert User.objects.get(email=ADELE).cost_center.name == "CC 2000"
    assert set(CostCenter.objects.filter(tenant=tenant_a).values_list("name", flat=True)) >= {"CC 2000", "CC 6000"}
    m365.control.update_user(CONTOSO, ADELE, employeeOrgData={"costCenter": "CC 7000"})
    sync(sync_settings)
    assert User.objects.get(email=ADELE).cost_center.name == "CC 7000"


def test_groups_from_a_user_attribute(m365: Any, sync_settings: Any, tenant_a: Any) -> None:
    sync_settings.sync_groups = True
    sync_settings.selection_mode = SelectionMode.ATTRIBUTE
    sync_settings.group_attribute = "department"
    sync_settings.save()
    sync(sync_settings)
    adele = User.objects.get(email=ADELE)
    assert list(adele.groups.values_list("name", flat=True)) == ["Retail"]
    retail = Group.objects.get(tenant=tenant_a, name="Retail")
    assert retail.directory_tenant_id == CONTOSO
    m365.control.update_user(CONTOSO, ADELE, department="Sales")
    sync(sync_settings)
    assert list(adele.groups.values_list("name", flat=True)) == ["Sales"]
