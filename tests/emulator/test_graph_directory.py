"""Graph's directory API in the emulator: lists, $select, $filter, paging, delta rounds, tokens that expire, control."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from m365_emulator.testing import EmulatorControlError, EmulatorHandle
from tests.emulator.conftest import (
    CONTOSO,
    FABRIKAM,
    GROUP_READER_APP,
    GROUP_READER_SECRET,
    NORTHWIND,
    app_token,
    assert_graph_error,
    graph,
    graph_client,
    public_app,
)

pytestmark = pytest.mark.emulator

ADELE = "a1b2c3d4-0002-4000-8000-00000000c002"
ALEX = "a1b2c3d4-0003-4000-8000-00000000c003"
FORMER = "a1b2c3d4-0005-4000-8000-00000000c005"
CHRISTIE = "a1b2c3d4-0007-4000-8000-00000000c007"
DEBRA = "a1b2c3d4-0008-4000-8000-00000000c008"
DIEGO = "a1b2c3d4-0009-4000-8000-00000000c009"
GRADY = "a1b2c3d4-0010-4000-8000-00000000c010"
GUEST = "a1b2c3d4-0034-4000-8000-00000000c034"
COST_CENTERS = "a1b2c3d4-1001-4000-8000-00000000c101"
ALL_CONTOSO = "a1b2c3d4-1008-4000-8000-00000000c108"
COLOR_PRINTING = "a1b2c3d4-1010-4000-8000-00000000c110"
USER_TYPE, GROUP_TYPE = "#microsoft.graph.user", "#microsoft.graph.group"
DAY = 24 * 3600


def get(client: requests.Session, url: str) -> dict[str, Any]:
    response = client.get(url, timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def follow(client: requests.Session, url: str) -> list[dict[str, Any]]:
    """Every page from ``url``, following ``@odata.nextLink`` as a client must."""
    pages = [get(client, url)]
    while "@odata.nextLink" in pages[-1]:
        pages.append(get(client, pages[-1]["@odata.nextLink"]))
    return pages


def objects(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for page in pages for item in page["value"]]


def delta_round(client: requests.Session, url: str) -> tuple[list[dict[str, Any]], str]:
    """One delta round: its objects, and the deltaLink that only its last page carries."""
    pages = follow(client, url)
    assert all("@odata.deltaLink" not in page for page in pages[:-1])
    assert all(not ("@odata.nextLink" in page and "@odata.deltaLink" in page) for page in pages)
    return objects(pages), pages[-1]["@odata.deltaLink"]


def by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found = {item["id"]: item for item in items}
    assert len(found) == len(items), "an object appeared twice in one round"
    return found


def contoso_user_ids(emu: EmulatorHandle) -> list[str]:
    return [user["id"] for user in emu.control.directory_users(CONTOSO)["users"]]


# --- lists --------------------------------------------------------------------------------------------------------


def test_users_are_listed_in_pages_of_top_with_opaque_next_links(emu: EmulatorHandle) -> None:
    pages = follow(graph_client(emu), graph(emu, "/users?$top=5&$select=displayName,userPrincipalName"))

    assert [len(page["value"]) for page in pages] == [5] * 6 + [4]
    assert [user["id"] for user in objects(pages)] == contoso_user_ids(emu)
    assert all(set(user) == {"id", "displayName", "userPrincipalName"} for user in objects(pages))
    query = parse_qs(urlsplit(pages[0]["@odata.nextLink"]).query)
    assert query["$top"] == ["5"] and not query["$skiptoken"][0].isdigit()
    assert pages[0]["@odata.context"].endswith("/v1.0/$metadata#users(id,displayName,userPrincipalName)")


def test_users_without_select_have_the_default_properties(emu: EmulatorHandle) -> None:
    [adele] = [u for u in get(graph_client(emu), graph(emu, "/users"))["value"] if u["id"] == ADELE]

    assert adele == {
        "businessPhones": ["+1 502 555 0102"],
        "displayName": "Adele Vance",
        "givenName": "Adele",
        "jobTitle": "Retail Manager",
        "mail": "adele.vance@contoso.onmicrosoft.com",
        "mobilePhone": None,
        "officeLocation": "18/2111",
        "preferredLanguage": None,
        "surname": "Vance",
        "userPrincipalName": "adele.vance@contoso.onmicrosoft.com",
        "id": ADELE,
    }


def test_card_and_cost_center_attributes(emu: EmulatorHandle) -> None:
    select = "employeeId,onPremisesExtensionAttributes,employeeOrgData,department,userType,accountEnabled"
    adele = get(graph_client(emu), graph(emu, f"/users/{ADELE}?$select={select}"))

    assert adele["employeeId"] == "C1001" and adele["department"] == "Retail" and adele["userType"] == "Member"
    assert adele["onPremisesExtensionAttributes"]["extensionAttribute1"] == "CARD-100001"
    assert adele["onPremisesExtensionAttributes"]["extensionAttribute15"] is None
    assert adele["employeeOrgData"] == {"costCenter": "CC 2000", "division": None}


@pytest.mark.parametrize("top", ["0", "1000", "ten"])
def test_top_outside_1_to_999_is_400(emu: EmulatorHandle, top: str) -> None:
    response = graph_client(emu).get(graph(emu, f"/users?$top={top}"), timeout=10)

    assert_graph_error(
        response, 400, "BadRequest", f"Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive."
    )


def test_select_of_an_unknown_property_is_400(emu: EmulatorHandle) -> None:
    response = graph_client(emu).get(graph(emu, "/users?$select=displayName,shoeSize"), timeout=10)

    assert_graph_error(response, 400, "BadRequest")
    assert "'shoeSize' on type 'microsoft.graph.user'" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("accountEnabled eq false", {FORMER}),
        ("userType eq 'Guest'", {GUEST}),
        ("startswith(displayName,'ad')", {ADELE}),
        ("employeeId eq 'C1001' or employeeId eq 'C1002'", {ADELE, ALEX}),
        (f"id in ('{ADELE}', '{GUEST}')", {ADELE, GUEST}),
        ("department eq 'Retail' and accountEnabled eq true", {ADELE, "a1b2c3d4-0017-4000-8000-00000000c017"}),
        ("onPremisesExtensionAttributes/extensionAttribute1 eq 'CARD-100007'", {CHRISTIE}),
    ],
)
def test_filter(emu: EmulatorHandle, expression: str, expected: set[str]) -> None:
    users = objects(follow(graph_client(emu), graph(emu, f"/users?$filter={expression}&$top=3")))

    assert {user["id"] for user in users} == expected


def test_filter_on_an_unknown_property_is_400(emu: EmulatorHandle) -> None:
    response = graph_client(emu).get(graph(emu, "/users?$filter=shoeSize eq 42"), timeout=10)

    assert_graph_error(response, 400, "Request_UnsupportedQuery")


def test_a_user_by_id_or_principal_name_and_an_unknown_one(emu: EmulatorHandle) -> None:
    client = graph_client(emu)

    by_upn = get(client, graph(emu, "/users/Adele.Vance@contoso.onmicrosoft.com?$select=displayName"))
    missing = client.get(graph(emu, "/users/00000000-0000-4000-8000-000000000000"), timeout=10)

    assert by_upn["id"] == ADELE and by_upn["displayName"] == "Adele Vance"
    assert by_upn["@odata.context"].endswith("$metadata#users(id,displayName)/$entity")
    assert_graph_error(missing, 404, "Request_ResourceNotFound")


def test_another_directorys_users_are_not_visible(emu: EmulatorHandle) -> None:
    northwind = graph_client(emu, app_token(emu, tenant=NORTHWIND))

    users = objects(follow(northwind, graph(emu, "/users?$select=userPrincipalName")))

    assert users and all(u["userPrincipalName"].endswith("@northwind.onmicrosoft.com") for u in users)
    assert northwind.get(graph(emu, f"/users/{ADELE}"), timeout=10).status_code == 404


def test_groups_and_their_members(emu: EmulatorHandle) -> None:
    client = graph_client(emu)

    groups = objects(follow(client, graph(emu, "/groups?$select=displayName,mailEnabled,mail")))
    root_members = objects(follow(client, graph(emu, f"/groups/{COST_CENTERS}/members?$select=displayName")))
    color = objects(follow(client, graph(emu, f"/groups/{COLOR_PRINTING}/members?$top=2")))

    names = {g["displayName"]: g for g in groups}
    assert "Cost Centers" in names and names["All Contoso"]["mail"] == "allcontoso@contoso.onmicrosoft.com"
    assert {m["@odata.type"] for m in root_members} == {GROUP_TYPE}
    assert sorted(m["displayName"] for m in root_members)[0] == "CC 1000 Executive"
    assert len(color) == 6 and {m["@odata.type"] for m in color} == {USER_TYPE}
    assert color[0]["id"] == ADELE and color[0]["displayName"] == "Adele Vance"


def test_members_without_a_user_permission_are_ids_and_types(emu: EmulatorHandle) -> None:
    groups_only = graph_client(emu, app_token(emu, GROUP_READER_APP, GROUP_READER_SECRET))

    members = objects(follow(groups_only, graph(emu, f"/groups/{COLOR_PRINTING}/members")))

    assert members[0] == {"@odata.type": USER_TYPE, "id": ADELE}


def test_a_group_id_that_is_not_a_guid_is_400(emu: EmulatorHandle) -> None:
    response = graph_client(emu).get(graph(emu, "/groups/Color Printing"), timeout=10)

    assert_graph_error(response, 400, "Request_BadRequest", "Invalid object identifier 'Color Printing'.")


# --- users delta -------------------------------------------------------------------------------------------------


def test_a_first_users_delta_lists_everyone_in_server_sized_pages(emu: EmulatorHandle) -> None:
    emu.control.set_graph_options(delta_page_size=10)

    pages = follow(graph_client(emu), graph(emu, "/users/delta?$select=displayName,accountEnabled,userType"))

    assert [len(page["value"]) for page in pages] == [10, 10, 10, 4]
    assert "@odata.deltaLink" in pages[-1] and "$deltatoken=" in pages[-1]["@odata.deltaLink"]
    users = by_id(objects(pages))
    assert list(users) == contoso_user_ids(emu)
    assert users[FORMER]["accountEnabled"] is False and users[GUEST]["userType"] == "Guest"
    assert all(set(u) <= {"id", "displayName", "accountEnabled", "userType"} for u in users.values())


@pytest.mark.parametrize("option", ["$top=5", "$orderby=displayName", "$expand=manager"])
def test_users_delta_refuses_options_it_does_not_support(emu: EmulatorHandle, option: str) -> None:
    response = graph_client(emu).get(graph(emu, f"/users/delta?{option}"), timeout=10)

    assert_graph_error(response, 400, "Request_UnsupportedQuery")


def test_the_next_round_has_each_changed_user_once_in_its_current_state(emu: EmulatorHandle) -> None:
    client = graph_client(emu)
    _, delta_link = delta_round(client, graph(emu, "/users/delta?$select=displayName,accountEnabled,userPrincipalName"))
    control = emu.control
    new = control.add_user(CONTOSO, "new.hire@contoso.onmicrosoft.com", displayName="New Hire", department="Sales")
    control.update_user(CONTOSO, ADELE, displayName="Adele V.")
    control.update_user(CONTOSO, ADELE, displayName="Adele Vance-Smith", jobTitle="Head of Retail")
    control.update_user(CONTOSO, ALEX, userPrincipalName="alex.w@contoso.com")
    control.disable_user(CONTOSO, CHRISTIE)
    control.delete_user(CONTOSO, DEBRA)
    control.delete_user(CONTOSO, DIEGO, permanent=True)
    control.update_user(CONTOSO, GRADY, jobTitle="Lead Designer")  # not selected: not tracked
    control.delete_user(CONTOSO, GUEST)
    control.restore_user(CONTOSO, GUEST)

    changes, _ = delta_round(client, delta_link)

    assert by_id(changes) == {
        new["id"]: {
            "id": new["id"],
            "displayName": "New Hire",
            "accountEnabled": True,
            "userPrincipalName": "new.hire@contoso.onmicrosoft.com",
        },
        ADELE: {
            "id": ADELE,
            "displayName": "Adele Vance-Smith",
            "accountEnabled": True,
            "userPrincipalName": "adele.vance@contoso.onmicrosoft.com",
        },
        ALEX: {
            "id": ALEX,
            "displayName": "Alex Wilber",
            "accountEnabled": True,
            "userPrincipalName": "alex.w@contoso.com",
        },
        CHRISTIE: {
            "id": CHRISTIE,
            "displayName": "Christie Cline",
            "accountEnabled": False,
            "userPrincipalName": "christie.cline@contoso.onmicrosoft.com",
        },
        DEBRA: {"id": DEBRA, "@removed": {"reason": "changed"}},
        DIEGO: {"id": DIEGO, "@removed": {"reason": "deleted"}},
        GUEST: {
            "id": GUEST,
            "displayName": "Jordan Reyes (Tailspin Toys)",
            "accountEnabled": True,
            "userPrincipalName": "jordan.reyes_tailspintoys.example#ext#@contoso.onmicrosoft.com",
        },
    }


def test_a_round_without_changes_is_empty_and_gives_a_new_delta_link(emu: EmulatorHandle) -> None:
    client = graph_client(emu)
    _, delta_link = delta_round(client, graph(emu, "/users/delta"))

    page = get(client, delta_link)

    assert page["value"] == [] and page["@odata.deltaLink"]


def test_a_round_of_many_changes_comes_in_pages(emu: EmulatorHandle) -> None:
    client = graph_client(emu)
    _, delta_link = delta_round(client, graph(emu, "/users/delta?$select=displayName"))
    emu.control.set_graph_options(delta_page_size=2)
    for user in (ADELE, ALEX, CHRISTIE, DEBRA, DIEGO):
        emu.control.update_user(CONTOSO, user, displayName=f"Renamed {user[-3:]}")

    pages = follow(client, delta_link)

    assert [len(page["value"]) for page in pages] in ([2, 2, 1], [2, 2, 1, 0])
    assert {u["displayName"] for u in objects(pages)} == {
        f"Renamed {u[-3:]}" for u in (ADELE, ALEX, CHRISTIE, DEBRA, DIEGO)
    }


def test_a_throttled_delta_page_is_the_same_page_when_asked_again(emu: EmulatorHandle) -> None:
    client = graph_client(emu)
    emu.control.set_graph_options(delta_page_size=10)
    first = get(client, graph(emu, "/users/delta?$select=displayName"))
    emu.control.inject_fault("graph", status=429, retry_after=2)

    throttled = client.get(first["@odata.nextLink"], timeout=10)
    second = get(client, first["@odata.nextLink"])

    assert_graph_error(throttled, 429, "TooManyRequests")
    assert throttled.headers["retry-after"] == "2"
    assert [u["id"] for u in second["value"]] == contoso_user_ids(emu)[10:20]


def test_sync_from_now_with_the_latest_token(emu: EmulatorHandle) -> None:
    client = graph_client(emu)

    page = get(client, graph(emu, "/users/delta?$deltatoken=latest&$select=displayName"))
    emu.control.update_user(CONTOSO, ALEX, displayName="Alex W.")
    changes, _ = delta_round(client, page["@odata.deltaLink"])

    assert page["value"] == []
    assert changes == [{"id": ALEX, "displayName": "Alex W."}]


def test_delta_for_chosen_ids(emu: EmulatorHandle) -> None:
    client = graph_client(emu)

    users, delta_link = delta_round(client, graph(emu, f"/users/delta?$filter=id eq '{ADELE}' or id eq '{ALEX}'"))
    emu.control.update_user(CONTOSO, CHRISTIE, displayName="Somebody else")
    emu.control.update_user(CONTOSO, ALEX, displayName="Alex W.")
    changes, _ = delta_round(client, delta_link)

    assert {u["id"] for u in users} == {ADELE, ALEX}
    assert [u["id"] for u in changes] == [ALEX]


# --- groups delta ------------------------------------------------------------------------------------------------


def test_a_large_groups_members_continue_on_later_pages_under_the_same_id(emu: EmulatorHandle) -> None:
    emu.control.set_graph_options(delta_members_per_page=4)

    pages = follow(graph_client(emu), graph(emu, "/groups/delta?$select=displayName,members"))

    assert all(sum(len(g.get("members@delta", [])) for g in page["value"]) <= 4 for page in pages)
    appearances = [g for g in objects(pages) if g["id"] == ALL_CONTOSO]
    assert len(appearances) > 5 and all(g["displayName"] == "All Contoso" for g in appearances)
    merged = [m["id"] for g in appearances for m in g["members@delta"]]
    assert merged == emu.control.directory_group(CONTOSO, ALL_CONTOSO)["members"]
    root = next(g for g in objects(pages) if g["id"] == COST_CENTERS)
    assert {m["@odata.type"] for m in root["members@delta"]} == {GROUP_TYPE}


def test_membership_changes_in_the_next_round(emu: EmulatorHandle) -> None:
    client = graph_client(emu)
    _, delta_link = delta_round(client, graph(emu, "/groups/delta?$select=displayName,description,members"))
    control = emu.control
    control.add_members(CONTOSO, "Color Printing", [CHRISTIE, GRADY])
    control.remove_members(CONTOSO, "Color Printing", [ADELE])
    control.add_members(CONTOSO, "Color Printing", [DEBRA])
    control.remove_members(CONTOSO, "Color Printing", [DEBRA])  # added and removed: no net change
    control.update_group(CONTOSO, "Cost Centers", description="The cost centers")
    new = control.add_group(CONTOSO, "Night Shift", members=[ALEX, "Color Printing"])
    control.delete_group(CONTOSO, "Printing Users")

    changes = by_id(delta_round(client, delta_link)[0])

    color = changes[COLOR_PRINTING]
    assert color["displayName"] == "Color Printing"
    assert sorted(color["members@delta"], key=lambda m: m["id"]) == [
        {"@odata.type": USER_TYPE, "id": ADELE, "@removed": {"reason": "deleted"}},
        {"@odata.type": USER_TYPE, "id": CHRISTIE},
        {"@odata.type": USER_TYPE, "id": GRADY},
    ]
    assert changes[COST_CENTERS]["description"] == "The cost centers" and "members@delta" not in changes[COST_CENTERS]
    assert changes[new["id"]]["members@delta"] == [
        {"@odata.type": USER_TYPE, "id": ALEX},
        {"@odata.type": GROUP_TYPE, "id": COLOR_PRINTING},
    ]
    assert changes["a1b2c3d4-1009-4000-8000-00000000c109"] == {
        "id": "a1b2c3d4-1009-4000-8000-00000000c109",
        "@removed": {"reason": "deleted"},
    }
    assert len(changes) == 4


def test_membership_changes_split_across_pages_in_a_later_round(emu: EmulatorHandle) -> None:
    client = graph_client(emu)
    _, delta_link = delta_round(client, graph(emu, "/groups/delta?$select=displayName,members"))
    emu.control.set_graph_options(delta_members_per_page=3)
    before = emu.control.directory_group(CONTOSO, COLOR_PRINTING)["members"]
    everyone = contoso_user_ids(emu)
    emu.control.add_members(CONTOSO, "Color Printing", everyone)

    pages = follow(client, delta_link)

    appearances = [g for g in objects(pages) if g["id"] == COLOR_PRINTING]
    added = [m["id"] for g in appearances for m in g["members@delta"]]
    assert len(appearances) == 10 and len(added) == len(everyone) - len(before) == 28
    assert sorted(added) == sorted(set(everyone) - set(before))


def test_without_members_selected_membership_is_not_tracked(emu: EmulatorHandle) -> None:
    client = graph_client(emu)
    groups, delta_link = delta_round(client, graph(emu, "/groups/delta?$select=displayName"))
    emu.control.add_members(CONTOSO, "Color Printing", [CHRISTIE])

    changes, _ = delta_round(client, delta_link)

    assert all("members@delta" not in g for g in groups)
    assert changes == []


def test_a_deleted_user_leaves_its_groups_and_a_restored_one_comes_back(emu: EmulatorHandle) -> None:
    client = graph_client(emu)
    _, delta_link = delta_round(client, graph(emu, "/groups/delta?$select=members"))

    emu.control.delete_user(CONTOSO, ADELE)
    left = by_id(delta_round(client, delta_link)[0])
    emu.control.restore_user(CONTOSO, ADELE)
    back = by_id(delta_round(client, delta_link)[0])

    assert {"@odata.type": USER_TYPE, "id": ADELE, "@removed": {"reason": "deleted"}} in left[COLOR_PRINTING][
        "members@delta"
    ]
    assert back == {}  # the same window, read again after the restore: removed then added is no change


# --- delta tokens that stop working ----------------------------------------------------------------------------


def test_a_delta_link_older_than_7_days_is_400_sync_state_not_found(emu: EmulatorHandle) -> None:
    client = graph_client(emu)
    _, delta_link = delta_round(client, graph(emu, "/users/delta"))
    emu.control.advance_clock(7 * DAY - 60)
    assert graph_client(emu).get(delta_link, timeout=10).status_code == 200

    emu.control.advance_clock(120)

    assert_graph_error(
        graph_client(emu).get(delta_link, timeout=10),
        400,
        "syncStateNotFound",
        "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
    )


def test_delta_tokens_can_be_expired_now(emu: EmulatorHandle) -> None:
    client = graph_client(emu)
    emu.control.set_graph_options(delta_page_size=10)
    first_page = get(client, graph(emu, "/users/delta"))
    _, delta_link = delta_round(client, graph(emu, "/groups/delta"))

    emu.control.expire_delta_tokens(CONTOSO)

    assert_graph_error(client.get(delta_link, timeout=10), 400, "syncStateNotFound")
    assert_graph_error(client.get(first_page["@odata.nextLink"], timeout=10), 400, "syncStateNotFound")
    assert get(client, graph(emu, "/users/delta"))["value"]


def test_a_resync_answers_410_with_the_location_to_start_again(emu: EmulatorHandle) -> None:
    client = graph_client(emu)
    _, delta_link = delta_round(client, graph(emu, "/users/delta?$select=displayName,accountEnabled"))
    emu.control.require_resync(CONTOSO)

    gone = client.get(delta_link, timeout=10, allow_redirects=False)
    users, _ = delta_round(client, gone.headers["location"])

    assert_graph_error(gone, 410, "resyncRequired")
    assert urlsplit(gone.headers["location"]).path == "/graph/v1.0/users/delta"
    assert len(users) == len(contoso_user_ids(emu))
    assert set(users[0]) == {"id", "displayName", "accountEnabled"}
    assert client.get(delta_link, timeout=10).status_code == 200  # only the next request was concerned


def test_tokens_from_before_a_reset_name_a_state_that_is_gone(emu: EmulatorHandle) -> None:
    client = graph_client(emu)
    _, delta_link = delta_round(client, graph(emu, "/users/delta"))

    emu.control.reset()

    assert_graph_error(graph_client(emu).get(delta_link, timeout=10), 400, "syncStateNotFound")


def test_a_token_from_another_directory_is_refused(emu: EmulatorHandle) -> None:
    _, delta_link = delta_round(graph_client(emu), graph(emu, "/users/delta"))

    response = graph_client(emu, app_token(emu, tenant=NORTHWIND)).get(delta_link, timeout=10)

    assert_graph_error(response, 400, "Request_BadRequest")


def test_garbage_tokens_are_400(emu: EmulatorHandle) -> None:
    response = graph_client(emu).get(graph(emu, "/users/delta?$deltatoken=not-a-token"), timeout=10)

    assert_graph_error(response, 400, "Request_BadRequest")


# --- the control API --------------------------------------------------------------------------------------------


def test_generated_directories_are_deterministic(emu: EmulatorHandle) -> None:
    first = emu.control.generate_directory(FABRIKAM, users=2000, groups=30, seed=7)
    users = emu.control.directory_users(FABRIKAM, limit=3000)
    groups = emu.control.directory_groups(FABRIKAM)
    emu.control.reset()
    again = emu.control.generate_directory(FABRIKAM, users=2000, groups=30, seed=7)

    assert first["first_user_id"] == again["first_user_id"] and first["memberships"] == again["memberships"]
    assert users["count"] == 2000 + 5
    generated = [u for u in users["users"] if ".g7." in u["userPrincipalName"]]
    assert {u["userType"] for u in generated} == {"Member", "Guest"}
    assert {u["accountEnabled"] for u in generated} == {True, False}
    assert len({u["department"] for u in generated}) == 10
    root = next(g for g in groups if g["displayName"] == "Cost Centers (g7)")
    assert root["memberCount"] == 10 and len(groups) == 30 + 1
    with pytest.raises(EmulatorControlError, match="already generated"):
        emu.control.generate_directory(FABRIKAM, users=10, seed=7)


def test_control_refuses_what_entra_would(emu: EmulatorHandle) -> None:
    control = emu.control
    with pytest.raises(EmulatorControlError, match="already used"):
        control.add_user(CONTOSO, "adele.vance@contoso.onmicrosoft.com")
    with pytest.raises(EmulatorControlError, match="not a domain of Contoso"):
        control.add_user(CONTOSO, "someone@fabrikam.onmicrosoft.com")
    with pytest.raises(EmulatorControlError, match="404"):
        control.update_user(CONTOSO, "nobody@contoso.onmicrosoft.com", displayName="x")
    with pytest.raises(EmulatorControlError, match="not a writable user property"):
        control.update_user(CONTOSO, ADELE, manager="x")


def test_directory_changes_reach_sign_in(emu: EmulatorHandle) -> None:
    """A disabled or deleted user cannot sign in; a restored one can."""
    emu.control.disable_user(CONTOSO, ALEX)
    emu.control.delete_user(CONTOSO, ADELE)
    flow = public_app(emu, tenant=CONTOSO).initiate_device_flow(scopes=["User.Read"])

    with pytest.raises(EmulatorControlError, match="50057"):
        emu.control.approve_device_code(flow["user_code"], "alex.wilber@contoso.onmicrosoft.com")
    with pytest.raises(EmulatorControlError, match="404"):
        emu.control.approve_device_code(flow["user_code"], "adele.vance@contoso.onmicrosoft.com")
    emu.control.restore_user(CONTOSO, "adele.vance@contoso.onmicrosoft.com")
    emu.control.approve_device_code(flow["user_code"], "adele.vance@contoso.onmicrosoft.com")
