"""microsoft.graph over real HTTPS against the emulator, with app-only tokens MSAL got through microsoft.identity."""

from __future__ import annotations

import time
from typing import Any

import pytest

from microsoft import errors, graph, identity
from microsoft.config import AppCredentials
from tests.microsoft.conftest import CONTOSO, GRAPH_DEFAULT, NORTHWIND, WEB_APP

pytestmark = pytest.mark.emulator

READER_APP = AppCredentials(client_id="7e570007-0000-4000-8000-000000000007", client_secret="reader~Secret.Value.0007")
ADELE = "a1b2c3d4-0002-4000-8000-00000000c002"
ALEX = "a1b2c3d4-0003-4000-8000-00000000c003"
CHRISTIE = "a1b2c3d4-0007-4000-8000-00000000c007"
DEBRA = "a1b2c3d4-0008-4000-8000-00000000c008"
DIEGO = "a1b2c3d4-0009-4000-8000-00000000c009"
ALL_CONTOSO = "a1b2c3d4-1008-4000-8000-00000000c108"
COLOR_PRINTING = "a1b2c3d4-1010-4000-8000-00000000c110"
USER_FIELDS = ["displayName", "userPrincipalName", "mail", "accountEnabled", "userType", "department"]


def token(app: AppCredentials = READER_APP, tenant: str = CONTOSO) -> str:
    return identity.client_credentials_acquire(app=app, tenant=tenant, scope=GRAPH_DEFAULT).access_token


def delta_round(access_token: str, url: str) -> tuple[list[graph.DeltaPage], str]:
    """Read a round page by page as the sync tasks do; the pages and the round's delta link."""
    pages = [graph.graph_delta_page(token=access_token, url=url)]
    while pages[-1].next_link:
        pages.append(graph.graph_delta_page(token=access_token, url=pages[-1].next_link))
    assert all(page.delta_link is None for page in pages[:-1])
    assert pages[-1].is_last and pages[-1].delta_link
    return pages, pages[-1].delta_link


def objects(pages: list[graph.DeltaPage]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for page in pages for item in page.objects}


def graph_requests(m365: Any) -> list[dict[str, Any]]:
    return m365.control.requests_received("graph")


# --- reading ------------------------------------------------------------------------------------------------------


def test_urls_come_from_settings_with_readable_query_options(m365: Any) -> None:
    url = graph.users_delta_url(select=["displayName", "mail"])

    assert url == f"{m365.graph_url}/v1.0/users/delta?$select=id,displayName,mail"
    assert graph.groups_delta_url(select=["displayName"], members=True).endswith("$select=id,displayName,members")
    assert graph.graph_url("/users", filter="userType eq 'Guest'", top=5).endswith(
        "/users?$filter=userType%20eq%20%27Guest%27&$top=5"
    )


def test_a_full_read_by_delta_in_pages(m365: Any) -> None:
    m365.control.set_graph_options(delta_page_size=10)

    pages, _ = delta_round(token(), graph.users_delta_url(select=USER_FIELDS))

    users = objects(pages)
    assert [len(page.objects) for page in pages] == [10, 10, 10, 4]
    assert len(users) == m365.control.directory_users(CONTOSO)["count"]
    assert users[ADELE]["displayName"] == "Adele Vance" and users[ADELE]["department"] == "Retail"
    assert {u["userType"] for u in users.values()} == {"Member", "Guest"}
    assert any(u["accountEnabled"] is False for u in users.values())


def test_a_delta_after_changes(m365: Any) -> None:
    access_token = token()
    _, delta_link = delta_round(access_token, graph.users_delta_url(select=USER_FIELDS))
    _, groups_link = delta_round(access_token, graph.groups_delta_url(select=["displayName"]))
    control = m365.control
    hired = control.add_user(CONTOSO, "new.hire@contoso.onmicrosoft.com", displayName="New Hire")
    control.update_user(CONTOSO, ALEX, userPrincipalName="alex.w@contoso.com", mail="alex.w@contoso.com")
    control.disable_user(CONTOSO, CHRISTIE)
    control.delete_user(CONTOSO, DEBRA)
    control.delete_user(CONTOSO, DIEGO, permanent=True)
    control.add_members(CONTOSO, "Color Printing", [hired["id"]])
    control.remove_members(CONTOSO, "Color Printing", [ADELE])

    users = objects(delta_round(access_token, delta_link)[0])
    groups = objects(delta_round(access_token, groups_link)[0])

    assert set(users) == {hired["id"], ALEX, CHRISTIE, DEBRA, DIEGO}
    assert users[ALEX]["userPrincipalName"] == "alex.w@contoso.com"
    assert users[CHRISTIE]["accountEnabled"] is False
    assert graph.removed_reason(users[DEBRA]) == "changed" and graph.removed_reason(users[DIEGO]) == "deleted"
    assert graph.removed_reason(users[hired["id"]]) is None
    assert sorted(graph.user_member_changes(groups[COLOR_PRINTING]), key=lambda c: c[1]) == [
        (hired["id"].lower(), False),
        (ADELE.lower(), True),
    ]


def test_a_groups_member_changes_are_its_users_only() -> None:
    """Graph types each ``members@delta`` entry; a nested group or a device is not a user, an entry without a type
    is taken as one (the ids are compared lower-cased)."""
    group = {
        "id": "g1",
        "members@delta": [
            {"@odata.type": "#microsoft.graph.user", "id": "AAAA-1"},
            {"@odata.type": "#microsoft.graph.group", "id": "bbbb-2"},
            {"@odata.type": "#microsoft.graph.device", "id": "cccc-3"},
            {"id": "dddd-4"},
            {"@odata.type": "#microsoft.graph.user", "id": "eeee-5", "@removed": {"reason": "deleted"}},
            {"@odata.type": "#microsoft.graph.group", "id": "ffff-6", "@removed": {"reason": "deleted"}},
        ],
    }
    assert graph.user_member_changes(group) == [("aaaa-1", False), ("dddd-4", False), ("eeee-5", True)]
    assert graph.user_member_changes({"id": "g2"}) == []


def test_a_large_group_is_merged_over_pages(m365: Any) -> None:
    m365.control.set_graph_options(delta_members_per_page=5)

    pages, _ = delta_round(token(), graph.groups_delta_url(select=["displayName"]))

    members: dict[str, list[str]] = {}
    for page in pages:
        for group in page.objects:
            members.setdefault(group["id"], []).extend(member for member, _ in graph.user_member_changes(group))
    assert sum(1 for page in pages for g in page.objects if g["id"] == ALL_CONTOSO) > 1
    assert members[ALL_CONTOSO] == [m.lower() for m in m365.control.directory_group(CONTOSO, ALL_CONTOSO)["members"]]


def test_lists_follow_next_links(m365: Any) -> None:
    url = graph.graph_url("/users", select=["displayName"], top=5)

    users = list(graph.graph_list(token=token(), url=url))
    first_page = graph.graph_page(token=token(), url=url)

    assert len(users) == m365.control.directory_users(CONTOSO)["count"]
    assert len(first_page.objects) == 5 and first_page.next_link
    assert len(list(graph.graph_list(token=token(), url=url, limit=7))) == 7


def test_one_object(m365: Any) -> None:
    adele = graph.graph_get(token=token(), url=graph.graph_url(f"/users/{ADELE}", select=["employeeId"]))

    assert adele["employeeId"] == "C1001"


# --- delta links that Microsoft no longer accepts ----------------------------------------------------------------


def test_a_delta_link_older_than_7_days_expires(m365: Any) -> None:
    access_token = token()
    _, delta_link = delta_round(access_token, graph.users_delta_url(select=USER_FIELDS))
    m365.control.advance_clock(7 * 24 * 3600 + 60)

    with pytest.raises(errors.DeltaExpired) as raised:
        graph.graph_delta_page(token=token(), url=delta_link)

    assert raised.value.error == "syncStateNotFound" and raised.value.resync_url is None
    assert raised.value.status == 400 and "7 days" in raised.value.explanation


def test_a_resync_gives_where_to_start_again(m365: Any) -> None:
    access_token = token()
    _, delta_link = delta_round(access_token, graph.users_delta_url(select=["displayName"]))
    m365.control.require_resync(CONTOSO)

    with pytest.raises(errors.DeltaExpired) as raised:
        graph.graph_delta_page(token=access_token, url=delta_link)
    pages, _ = delta_round(access_token, raised.value.resync_url or "")

    assert raised.value.status == 410 and raised.value.error == "resyncRequired"
    assert len(objects(pages)) == m365.control.directory_users(CONTOSO)["count"]


def test_a_link_to_another_host_is_not_followed(m365: Any) -> None:
    m365.control.clear_requests()
    foreign = "https://graph.example.net/graph/v1.0/users/delta?$deltatoken=x"

    with pytest.raises(errors.DeltaExpired):
        graph.graph_delta_page(token=token(), url=foreign)
    with pytest.raises(errors.ConfigurationError):
        graph.graph_get(token=token(), url=foreign)

    assert graph_requests(m365) == []


# --- throttling --------------------------------------------------------------------------------------------------


def test_throttled_raises_with_retry_after_and_sends_nothing_more(m365: Any) -> None:
    access_token = token()
    m365.control.clear_requests()
    m365.control.inject_fault("graph", status=429, retry_after=30)

    with pytest.raises(errors.TransientError) as raised:
        graph.graph_delta_page(token=access_token, url=graph.users_delta_url(select=USER_FIELDS))

    assert raised.value.retry_after == 30.0 and raised.value.status == 429
    assert "limiting" in raised.value.explanation
    assert [r["status"] for r in graph_requests(m365)] == [429]


@pytest.mark.parametrize("status", [429, 503])
def test_a_short_retry_after_is_waited_in_the_call_and_never_cut_short(m365: Any, status: int) -> None:
    access_token = token()
    m365.control.clear_requests()
    m365.control.inject_fault("graph", status=status, retry_after=1, count=2)

    page = graph.graph_delta_page(token=access_token, url=graph.users_delta_url(select=USER_FIELDS), wait_up_to=5)

    assert page.objects
    first, second, third = graph_requests(m365)
    assert [first["status"], second["status"], third["status"]] == [status, status, 200]
    # The emulator's own clock: no request came back before the Retry-After it was given.
    assert second["at"] - first["at"] >= 1.0 and third["at"] - second["at"] >= 1.0


def test_in_call_waits_are_bounded(m365: Any) -> None:
    access_token = token()
    m365.control.clear_requests()
    m365.control.inject_fault("graph", status=429, retry_after=1, count=5)

    started = time.monotonic()
    with pytest.raises(errors.TransientError):
        graph.graph_delta_page(token=access_token, url=graph.users_delta_url(select=USER_FIELDS), wait_up_to=60)

    assert len(graph_requests(m365)) == 1 + graph.IN_CALL_RETRIES
    assert time.monotonic() - started < 10


def test_a_retry_after_longer_than_the_allowed_wait_is_left_to_the_caller(m365: Any) -> None:
    access_token = token()
    m365.control.clear_requests()
    m365.control.inject_fault("graph", status=503, retry_after=20)

    with pytest.raises(errors.TransientError) as raised:
        graph.graph_delta_page(token=access_token, url=graph.users_delta_url(select=USER_FIELDS), wait_up_to=5)

    assert raised.value.retry_after == 20.0 and len(graph_requests(m365)) == 1


# --- errors ------------------------------------------------------------------------------------------------------


def test_a_refused_token_is_a_token_problem(m365: Any) -> None:
    access_token = token()
    m365.control.revoke_access_tokens(CONTOSO)

    with pytest.raises(errors.AccessTokenRejected) as raised:
        graph.graph_get(token=access_token, url=graph.graph_url("/users"))

    assert raised.value.status == 401 and raised.value.error == "InvalidAuthenticationToken"
    assert graph.graph_get(token=token(), url=graph.graph_url("/users"))["value"]


def test_a_missing_permission_needs_a_person(m365: Any) -> None:
    users_only = token(WEB_APP)  # User.Read.All, no Group.Read.All

    with pytest.raises(errors.PermissionMissing) as raised:
        graph.graph_delta_page(token=users_only, url=graph.groups_delta_url())

    assert isinstance(raised.value, errors.ReconsentRequired)
    assert raised.value.error == "Authorization_RequestDenied" and raised.value.correlation_id
    assert "Group.Read.All" in raised.value.explanation


def test_an_unknown_object_is_not_found(m365: Any) -> None:
    with pytest.raises(errors.ResourceNotFound):
        graph.graph_get(token=token(), url=graph.graph_url("/users/nobody@contoso.onmicrosoft.com"))


def test_a_bad_request_is_our_bug_not_the_admins(m365: Any) -> None:
    with pytest.raises(errors.MicrosoftError) as raised:
        graph.graph_get(token=token(), url=graph.graph_url("/users", select=["shoeSize"]))

    assert type(raised.value) is errors.MicrosoftError and raised.value.status == 400
    assert "shoeSize" in raised.value.description


def test_server_errors_and_timeouts_are_transient(m365: Any, settings: Any) -> None:
    access_token = token()
    m365.control.inject_fault("graph", status=500)
    with pytest.raises(errors.TransientError) as server_error:
        graph.graph_get(token=access_token, url=graph.graph_url("/users"))

    settings.MICROSOFT_HTTP_TIMEOUT = 0.5
    m365.control.inject_fault("graph", latency_ms=3000)
    with pytest.raises(errors.TransientError) as timeout:
        graph.graph_get(token=access_token, url=graph.graph_url("/users"))

    m365.control.inject_fault("graph", drop=True)
    with pytest.raises(errors.TransientError) as dropped:
        graph.graph_get(token=access_token, url=graph.graph_url("/users"))

    assert server_error.value.status == 500 and server_error.value.retry_after is None
    assert timeout.value.error == "timeout" and dropped.value.error == "connection_error"


# --- size ---------------------------------------------------------------------------------------------------------


def test_100000_users_in_500_groups_read_by_delta(m365: Any) -> None:
    seeded = m365.control.directory_users(NORTHWIND)["count"]
    started = time.perf_counter()
    generated = m365.control.generate_directory(NORTHWIND, users=100_000, groups=500, seed=1)
    generated_in = time.perf_counter() - started
    access_token = token(tenant=NORTHWIND)

    started = time.perf_counter()
    users, users_pages = 0, 0
    url: str | None = graph.users_delta_url(select=USER_FIELDS)
    while url:
        page = graph.graph_delta_page(token=access_token, url=url)
        users, users_pages, url = users + len(page.objects), users_pages + 1, page.next_link
    users_in = time.perf_counter() - started
    started = time.perf_counter()
    links, groups_pages = 0, 0
    url = graph.groups_delta_url(select=["displayName"])
    while url:
        page = graph.graph_delta_page(token=access_token, url=url)
        links += sum(len(group.get("members@delta", ())) for group in page.objects)
        groups_pages, url = groups_pages + 1, page.next_link
    groups_in = time.perf_counter() - started

    print(
        f"\ngenerated 100,000 users and 500 groups in {generated_in:.1f} s (emulator: {generated['seconds']} s); "
        f"users delta: {users_pages} pages in {users_in:.1f} s; groups delta: {groups_pages} pages, "
        f"{links} membership links in {groups_in:.1f} s"
    )
    assert users == 100_000 + seeded
    assert links == generated["memberships"]
