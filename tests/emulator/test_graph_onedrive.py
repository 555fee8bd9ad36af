"""The emulator's OneDrive: driveItems, paging, search, downloads by redirect, uploads, sessions, scopes, faults."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any
from urllib.parse import quote

import pytest
import requests

from m365_emulator.testing import EmulatorHandle
from tests.emulator.conftest import (
    CONTOSO,
    READER_APP,
    READER_SECRET,
    app_token,
    assert_graph_error,
    graph,
    graph_client,
    public_app,
)

pytestmark = pytest.mark.emulator

ADELE = "adele.vance@contoso.onmicrosoft.com"
ADELE_ID = "a1b2c3d4-0002-4000-8000-00000000c002"
ALEX = "alex.wilber@contoso.onmicrosoft.com"
MEGAN = "megan.bowen@fabrikam.onmicrosoft.com"
FILES_APP, FILES_SECRET = "7e57000c-0000-4000-8000-00000000000c", "files~Secret.Value.000c"
SITES_APP, SITES_SECRET = "7e57000d-0000-4000-8000-00000000000d", "sites~Secret.Value.000d"
UNIT = 327_680  # 320 KiB
ITEM_ID = re.compile(r"^01[A-Z2-7]{32}$")


def delegated(
    emu: EmulatorHandle, upn: str = ADELE, scopes: tuple[str, ...] = ("Files.ReadWrite",)
) -> requests.Session:
    """A Graph session with a user's delegated token (device code, approved as the user)."""
    app = public_app(emu, tenant=CONTOSO if upn.endswith("contoso.onmicrosoft.com") else "organizations")
    flow = app.initiate_device_flow(scopes=list(scopes))
    emu.control.approve_device_code(flow["user_code"], upn)
    result: dict[str, Any] = app.acquire_token_by_device_flow(flow, exit_condition=lambda f: True)
    assert "access_token" in result, result
    return graph_client(emu, str(result["access_token"]))


def app_client(emu: EmulatorHandle, client_id: str = FILES_APP, secret: str = FILES_SECRET) -> requests.Session:
    return graph_client(emu, app_token(emu, client_id, secret))


def me(emu: EmulatorHandle, path: str = "") -> str:
    return graph(emu, f"/me/drive{path}")


def names(response: requests.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["value"]]


def plain(emu: EmulatorHandle) -> requests.Session:
    """No bearer token: what a pre-authenticated URL is called with."""
    return emu.session()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- drives and items -------------------------------------------------------------------------------------------


def test_my_drive_as_onedrive_for_business_describes_it(emu: EmulatorHandle) -> None:
    client = delegated(emu)

    drive = client.get(me(emu), timeout=10).json()

    assert drive["driveType"] == "business" and drive["id"].startswith("b!")
    assert drive["owner"]["user"] == {"email": ADELE, "id": ADELE_ID, "displayName": "Adele Vance"}
    assert drive["quota"]["total"] == 1024**4 and drive["quota"]["used"] > 0
    assert drive["webUrl"] == "https://contoso-my.sharepoint.com/personal/adele_vance_contoso_onmicrosoft_com/Documents"
    by_id = client.get(graph(emu, f"/drives/{drive['id']}"), timeout=10).json()
    assert by_id["id"] == drive["id"]


def test_root_children_are_the_seeded_folders_and_files(emu: EmulatorHandle) -> None:
    client = delegated(emu)

    page = client.get(me(emu, "/root/children"), timeout=10).json()

    by_name = {item["name"]: item for item in page["value"]}
    assert list(by_name) == ["Documents", "Recipes.pdf", "Scans"]
    documents, recipes = by_name["Documents"], by_name["Recipes.pdf"]
    assert documents["folder"] == {"childCount": 3} and "file" not in documents
    assert documents["size"] == sum(f["size"] for p, f in emu.control.onedrive_files(ADELE).items() if "Documents" in p)
    assert recipes["file"]["mimeType"] == "application/pdf" and recipes["file"]["hashes"]["quickXorHash"]
    assert recipes["lastModifiedDateTime"] == "2025-05-11T12:00:00Z"
    assert ITEM_ID.match(recipes["id"]) and re.fullmatch(r'"\{[0-9A-F-]{36}\},\d+"', recipes["eTag"])
    reference = recipes["parentReference"]
    assert reference["path"] == f"/drives/{reference['driveId']}/root:" and reference["driveType"] == "business"
    assert recipes["createdBy"]["user"]["displayName"] == "Adele Vance"
    assert recipes["@microsoft.graph.downloadUrl"].startswith(emu.https_url + "/onedrive/download/")


def test_items_by_path_and_by_id(emu: EmulatorHandle) -> None:
    client = delegated(emu)

    by_path = client.get(me(emu, "/root:/Documents/Projects/Launch plan.pdf"), timeout=10)
    with_colon = client.get(me(emu, "/root:/documents/projects/LAUNCH PLAN.pdf:"), timeout=10)  # names ignore case
    item = by_path.json()
    by_id = client.get(me(emu, f"/items/{item['id']}"), timeout=10).json()
    relative = client.get(me(emu, f"/items/{item['parentReference']['id']}:/Launch plan.pdf:"), timeout=10).json()

    assert by_path.status_code == with_colon.status_code == 200
    assert item["id"] == with_colon.json()["id"] == by_id["id"] == relative["id"]
    assert item["parentReference"]["path"].endswith("/root:/Documents/Projects")
    assert item["@odata.context"].endswith("/items/$entity")


def test_unknown_items_are_404_item_not_found(emu: EmulatorHandle) -> None:
    client = delegated(emu)

    for path in ("/root:/Nope.pdf", "/items/01AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "/root:/Recipes.pdf/inside:"):
        assert_graph_error(client.get(me(emu, path), timeout=10), 404, "itemNotFound")


def test_select_keeps_only_the_named_properties(emu: EmulatorHandle) -> None:
    client = delegated(emu)

    item = client.get(me(emu, "/root:/Recipes.pdf?$select=name,size,@microsoft.graph.downloadUrl"), timeout=10)

    assert set(item.json()) == {"@odata.context", "id", "name", "size", "@microsoft.graph.downloadUrl"}
    assert_graph_error(client.get(me(emu, "/root?$select=bogus"), timeout=10), 400, "BadRequest")


# --- paging and ordering -------------------------------------------------------------------------------------


def test_children_page_with_top_and_next_links_that_keep_the_options(emu: EmulatorHandle) -> None:
    client = delegated(emu)
    for n in range(7):
        emu.control.onedrive_put_file(ADELE, f"/Many/file {n}.txt", text=str(n))

    first = client.get(me(emu, "/root:/Many:/children?$top=3&$select=name"), timeout=10).json()
    seen = [item["name"] for item in first["value"]]
    link = first.get("@odata.nextLink")
    while link:
        assert "$top=3" in link and "$select=name" in link and "$skiptoken=" in link
        page = client.get(link, timeout=10).json()
        seen += [item["name"] for item in page["value"]]
        link = page.get("@odata.nextLink")

    assert seen == [f"file {n}.txt" for n in range(7)]
    assert set(first["value"][0]) == {"id", "name"}


def test_a_change_between_pages_neither_skips_nor_repeats(emu: EmulatorHandle) -> None:
    client = delegated(emu)
    for letter in "bdfh":
        emu.control.onedrive_put_file(ADELE, f"/Paged/{letter}.txt", text=letter)

    first = client.get(me(emu, "/root:/Paged:/children?$top=2"), timeout=10).json()
    emu.control.onedrive_put_file(ADELE, "/Paged/a.txt", text="before the page")
    emu.control.onedrive_put_file(ADELE, "/Paged/e.txt", text="after it")
    second = client.get(first["@odata.nextLink"], timeout=10).json()
    third = client.get(second["@odata.nextLink"], timeout=10).json()

    assert [i["name"] for i in first["value"]] == ["b.txt", "d.txt"]
    assert [i["name"] for i in second["value"] + third["value"]] == ["e.txt", "f.txt", "h.txt"]
    assert "@odata.nextLink" not in third


def test_orderby_name_size_and_dates(emu: EmulatorHandle) -> None:
    client = delegated(emu)
    emu.control.onedrive_put_file(ADELE, "/Sorted/b.txt", text="12345")
    emu.control.onedrive_put_file(ADELE, "/Sorted/a.txt", text="123")
    emu.control.advance_clock(5)
    emu.control.onedrive_put_file(ADELE, "/Sorted/C.txt", text="1")

    assert names(client.get(me(emu, "/root:/Sorted:/children?$orderby=name desc"), timeout=10)) == [
        "C.txt",
        "b.txt",
        "a.txt",
    ]
    assert names(client.get(me(emu, "/root:/Sorted:/children?$orderby=size"), timeout=10))[0] == "C.txt"
    latest = client.get(me(emu, "/root:/Sorted:/children?$orderby=lastModifiedDateTime desc"), timeout=10)
    assert names(latest)[0] == "C.txt"


@pytest.mark.parametrize(
    ("query", "status"),
    [("$orderby=color", 400), ("$orderby=name sideways", 400), ("$top=1000", 400), ("$filter=name eq 'x'", 400)],
)
def test_unsupported_list_options_are_refused(emu: EmulatorHandle, query: str, status: int) -> None:
    response = delegated(emu).get(me(emu, f"/root/children?{query}"), timeout=10)

    assert response.status_code == status, response.text


def test_a_skiptoken_of_another_folder_is_refused(emu: EmulatorHandle) -> None:
    client = delegated(emu)
    first = client.get(me(emu, "/root:/Documents:/children?$top=1"), timeout=10).json()
    token = first["@odata.nextLink"].split("$skiptoken=")[1]

    response = client.get(me(emu, f"/root:/Scans:/children?$top=1&$skiptoken={token}"), timeout=10)

    assert_graph_error(response, 400, "invalidRequest")


# --- search ---------------------------------------------------------------------------------------------------


def test_search_finds_names_below_the_folder_case_insensitively(emu: EmulatorHandle) -> None:
    client = delegated(emu)

    everywhere = client.get(me(emu, "/root/search(q='PLAN')"), timeout=10).json()["value"]
    drive_level = names(client.get(me(emu, "/search(q='report')"), timeout=10))
    in_folder = names(client.get(me(emu, "/root:/Documents/Projects:/search(q='.pdf')"), timeout=10))
    quoted = names(client.get(me(emu, "/root/search(q='adele''s')"), timeout=10))

    assert [item["name"] for item in everywhere] == ["Launch plan.pdf"]
    assert everywhere[0]["searchResult"] == {} and everywhere[0]["parentReference"]["path"].endswith("/Projects")
    assert drive_level == ["Quarterly report.pdf"]
    assert in_folder == ["Budget 2026.pdf", "Launch plan.pdf"]
    assert quoted == []


def test_search_pages_and_needs_text(emu: EmulatorHandle) -> None:
    client = delegated(emu)

    first = client.get(me(emu, "/root/search(q='pdf')?$top=2"), timeout=10).json()
    second = client.get(first["@odata.nextLink"], timeout=10).json()

    assert len(first["value"]) == 2 and len(second["value"]) >= 1
    assert_graph_error(client.get(me(emu, "/root/search(q='  ')"), timeout=10), 400, "invalidRequest")


# --- downloads ------------------------------------------------------------------------------------------------


def test_content_is_a_302_to_a_preauthenticated_url(emu: EmulatorHandle) -> None:
    client = delegated(emu)
    expected = emu.control.onedrive_files(ADELE)["/Recipes.pdf"]

    redirect = client.get(me(emu, "/root:/Recipes.pdf:/content"), allow_redirects=False, timeout=10)
    location = redirect.headers["location"]
    body = plain(emu).get(location, timeout=10)

    assert redirect.status_code == 302 and location.startswith(emu.https_url + "/onedrive/download/")
    assert body.status_code == 200 and body.headers["content-type"] == "application/pdf"
    assert body.content.startswith(b"%PDF-1.4") and sha256(body.content) == expected["sha256"]
    assert body.headers["content-length"] == str(expected["size"])
    assert "Recipes.pdf" in body.headers["content-disposition"]


def test_download_ranges(emu: EmulatorHandle) -> None:
    data = bytes(range(256)) * 40
    item = emu.control.onedrive_put_file(ADELE, "/bytes.bin", data)
    url = delegated(emu).get(me(emu, f"/items/{item['id']}/content"), allow_redirects=False, timeout=10)
    location = url.headers["location"]
    session = plain(emu)

    first = session.get(location, headers={"Range": "bytes=0-99"}, timeout=10)
    middle = session.get(location, headers={"Range": "bytes=5000-"}, timeout=10)
    tail = session.get(location, headers={"Range": "bytes=-10"}, timeout=10)
    beyond = session.get(location, headers={"Range": "bytes=20000-"}, timeout=10)

    assert first.status_code == 206 and first.content == data[:100]
    assert first.headers["content-range"] == f"bytes 0-99/{len(data)}"
    assert middle.status_code == 206 and middle.content == data[5000:]
    assert tail.status_code == 206 and tail.content == data[-10:]
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(data)}"


def test_download_urls_are_short_lived_and_follow_the_content(emu: EmulatorHandle) -> None:
    client = delegated(emu)
    first = client.get(me(emu, "/root:/Recipes.pdf"), timeout=10).json()["@microsoft.graph.downloadUrl"]
    second = client.get(me(emu, "/root:/Documents/Travel policy.pdf"), timeout=10).json()
    location = second["@microsoft.graph.downloadUrl"]

    emu.control.onedrive_put_file(ADELE, "/Recipes.pdf", text="new content")  # a new version
    assert_graph_error(plain(emu).get(first, timeout=10), 404, "itemNotFound")
    emu.control.advance_clock(301)
    assert_graph_error(plain(emu).get(location, timeout=10), 401, "unauthenticated")


def test_a_folder_has_no_content(emu: EmulatorHandle) -> None:
    response = delegated(emu).get(me(emu, "/root:/Documents:/content"), allow_redirects=False, timeout=10)

    assert_graph_error(response, 404, "itemNotFound")


# --- folders, simple uploads, moves, deletes ---------------------------------------------------------------------


def test_create_folder_with_each_conflict_behavior(emu: EmulatorHandle) -> None:
    client = delegated(emu)

    def create(behavior: str | None) -> requests.Response:
        body: dict[str, Any] = {"name": "Printed", "folder": {}}
        if behavior:
            body["@microsoft.graph.conflictBehavior"] = behavior
        return client.post(me(emu, "/root/children"), json=body, timeout=10)

    created = create(None)
    taken = create(None)
    renamed = create("rename")
    replaced = create("replace")

    assert created.status_code == 201 and created.json()["folder"] == {"childCount": 0}
    assert_graph_error(taken, 409, "nameAlreadyExists")
    assert renamed.status_code == 201 and renamed.json()["name"] == "Printed 1"
    assert replaced.status_code == 200 and replaced.json()["id"] == created.json()["id"]


@pytest.mark.parametrize("name", ["a:b", "trailing. ", "CON", "what?", ""])
def test_invalid_names_are_refused(emu: EmulatorHandle, name: str) -> None:
    response = delegated(emu).post(me(emu, "/root/children"), json={"name": name, "folder": {}}, timeout=10)

    assert_graph_error(response, 400, "invalidRequest")


def test_simple_upload_creates_replaces_renames_or_fails(emu: EmulatorHandle) -> None:
    client = delegated(emu)
    url = me(emu, "/root:/Scans/scan.pdf:/content")

    created = client.put(url, data=b"%PDF-1.4 first", timeout=10)
    replaced = client.put(url, data=b"%PDF-1.4 second", timeout=10)
    renamed = client.put(url + "?@microsoft.graph.conflictBehavior=rename", data=b"third", timeout=10)
    failed = client.put(url + "?@microsoft.graph.conflictBehavior=fail", data=b"fourth", timeout=10)

    assert created.status_code == 201 and created.json()["size"] == 14
    assert replaced.status_code == 200 and replaced.json()["id"] == created.json()["id"]
    assert replaced.json()["cTag"] != created.json()["cTag"]
    assert renamed.status_code == 201 and renamed.json()["name"] == "scan 1.pdf"
    assert_graph_error(failed, 409, "nameAlreadyExists")
    files = emu.control.onedrive_files(ADELE)
    assert files["/Scans/scan.pdf"]["sha256"] == sha256(b"%PDF-1.4 second")
    assert files["/Scans/scan 1.pdf"]["sha256"] == sha256(b"third")


def test_simple_upload_needs_an_existing_folder_and_honours_if_match(emu: EmulatorHandle) -> None:
    client = delegated(emu)
    item = client.get(me(emu, "/root:/Recipes.pdf"), timeout=10).json()

    missing = client.put(me(emu, "/root:/No such folder/a.pdf:/content"), data=b"x", timeout=10)
    content = me(emu, f"/items/{item['id']}/content")
    stale = client.put(content, data=b"x", headers={"If-Match": '"old"'}, timeout=10)
    fresh = client.put(content, data=b"y", headers={"If-Match": item["eTag"]}, timeout=10)

    assert_graph_error(missing, 404, "itemNotFound")
    assert_graph_error(stale, 412, "preconditionFailed")
    assert fresh.status_code == 200 and fresh.json()["size"] == 1


def test_rename_and_move_with_parent_reference(emu: EmulatorHandle) -> None:
    client = delegated(emu)
    printed = client.post(me(emu, "/root/children"), json={"name": "Printed", "folder": {}}, timeout=10).json()
    item = client.get(me(emu, "/root:/Recipes.pdf"), timeout=10).json()

    moved = client.patch(me(emu, f"/items/{item['id']}"), json={"parentReference": {"id": printed["id"]}}, timeout=10)
    by_path = client.patch(
        me(emu, f"/items/{item['id']}"),
        json={"name": "Lunch.pdf", "parentReference": {"path": "/drive/root:/Documents"}},
        timeout=10,
    )

    assert moved.status_code == 200 and moved.json()["parentReference"]["id"] == printed["id"]
    assert by_path.json()["name"] == "Lunch.pdf" and by_path.json()["parentReference"]["path"].endswith("/Documents")
    assert "/Documents/Lunch.pdf" in emu.control.onedrive_files(ADELE)


def test_a_move_onto_a_taken_name_fails_or_renames(emu: EmulatorHandle) -> None:
    client = delegated(emu)
    emu.control.onedrive_put_file(ADELE, "/Printed/Recipes.pdf", text="an older print")
    printed = client.get(me(emu, "/root:/Printed"), timeout=10).json()
    item = client.get(me(emu, "/root:/Recipes.pdf"), timeout=10).json()
    body = {"parentReference": {"id": printed["id"]}}

    failed = client.patch(me(emu, f"/items/{item['id']}"), json=body, timeout=10)
    renamed = client.patch(
        me(emu, f"/items/{item['id']}?@microsoft.graph.conflictBehavior=rename"), json=body, timeout=10
    )

    assert_graph_error(failed, 409, "nameAlreadyExists")
    assert renamed.json()["name"] == "Recipes 1.pdf"


def test_a_folder_cannot_move_into_itself_and_the_root_stays(emu: EmulatorHandle) -> None:
    client = delegated(emu)
    documents = client.get(me(emu, "/root:/Documents"), timeout=10).json()
    projects = client.get(me(emu, "/root:/Documents/Projects"), timeout=10).json()

    into_child = client.patch(
        me(emu, f"/items/{documents['id']}"), json={"parentReference": {"id": projects["id"]}}, timeout=10
    )
    root = client.delete(me(emu, "/root"), timeout=10)

    assert_graph_error(into_child, 400, "invalidRequest")
    assert_graph_error(root, 400, "invalidRequest")


def test_delete_moves_to_the_recycle_bin(emu: EmulatorHandle) -> None:
    client = delegated(emu)
    folder = client.get(me(emu, "/root:/Documents/Projects"), timeout=10).json()
    inside = client.get(me(emu, "/root:/Documents/Projects/Launch plan.pdf"), timeout=10).json()

    deleted = client.delete(me(emu, f"/items/{folder['id']}"), timeout=10)

    assert deleted.status_code == 204
    assert_graph_error(client.get(me(emu, f"/items/{folder['id']}"), timeout=10), 404, "itemNotFound")
    assert_graph_error(client.get(me(emu, f"/items/{inside['id']}"), timeout=10), 404, "itemNotFound")
    assert_graph_error(client.delete(me(emu, f"/items/{folder['id']}"), timeout=10), 404, "itemNotFound")
    tree = emu.control.onedrive_tree(ADELE)
    assert [item["path"] for item in tree["recycle_bin"]] == ["/Documents/Projects"]
    assert not any(item["path"].startswith("/Documents/Projects") for item in tree["items"])


# --- upload sessions ------------------------------------------------------------------------------------------


def start_session(
    client: requests.Session, emu: EmulatorHandle, path: str = "/Scans/big.bin", **body: Any
) -> dict[str, Any]:
    response = client.post(me(emu, f"/root:{path}:/createUploadSession"), json=body, timeout=10)
    assert response.status_code == 200, response.text
    session: dict[str, Any] = response.json()
    return session


def put_fragment(
    emu: EmulatorHandle, url: str, data: bytes, start: int, total: int, **headers: str
) -> requests.Response:
    content_range = f"bytes {start}-{start + len(data) - 1}/{total}"
    return plain(emu).put(url, data=data, headers={"Content-Range": content_range, **headers}, timeout=30)


def test_an_upload_session_in_fragments(emu: EmulatorHandle) -> None:
    data = bytes(range(256)) * (3 * UNIT // 256) + b"tail"
    session = start_session(delegated(emu), emu, item={"@microsoft.graph.conflictBehavior": "rename"})
    url = session["uploadUrl"]

    first = put_fragment(emu, url, data[:UNIT], 0, len(data))
    second = put_fragment(emu, url, data[UNIT : 3 * UNIT], UNIT, len(data))
    status = plain(emu).get(url, timeout=10)
    last = put_fragment(emu, url, data[3 * UNIT :], 3 * UNIT, len(data))

    assert url.startswith(emu.https_url + "/onedrive/up/") and session["nextExpectedRanges"] == ["0-"]
    assert first.status_code == 202 and first.json()["nextExpectedRanges"] == [f"{UNIT}-"]
    assert second.json()["nextExpectedRanges"] == [f"{3 * UNIT}-"]
    assert status.status_code == 200 and status.json()["nextExpectedRanges"] == [f"{3 * UNIT}-"]
    assert last.status_code == 201 and last.json()["name"] == "big.bin" and last.json()["size"] == len(data)
    assert emu.control.onedrive_files(ADELE)["/Scans/big.bin"]["sha256"] == sha256(data)
    assert_graph_error(plain(emu).get(url, timeout=10), 404, "itemNotFound")  # committed: the session is gone


def test_fragments_out_of_order_or_overlapping_are_416(emu: EmulatorHandle) -> None:
    data = b"x" * (2 * UNIT + 10)
    url = start_session(delegated(emu), emu)["uploadUrl"]
    put_fragment(emu, url, data[:UNIT], 0, len(data))

    overlap = put_fragment(emu, url, data[:UNIT], 0, len(data))
    gap = put_fragment(emu, url, data[2 * UNIT :], 2 * UNIT, len(data))

    assert_graph_error(overlap, 416, "invalidRange")
    assert_graph_error(gap, 416, "invalidRange")
    assert plain(emu).get(url, timeout=10).json()["nextExpectedRanges"] == [f"{UNIT}-"]


@pytest.mark.parametrize(
    ("fragment", "content_range", "code"),
    [
        (b"x" * 1000, "bytes 0-999/700000", "invalidRequest"),  # not a multiple of 320 KiB, not the last
        (b"x" * UNIT, f"bytes 0-{UNIT - 1}/{UNIT}00", None),  # fine
        (b"x" * 10, "bytes 0-9", "invalidRequest"),  # no total
        (b"x" * 10, "bytes 0-19/20", "invalidRequest"),  # shorter than announced
    ],
)
def test_fragment_rules(emu: EmulatorHandle, fragment: bytes, content_range: str, code: str | None) -> None:
    url = start_session(delegated(emu), emu)["uploadUrl"]

    response = plain(emu).put(url, data=fragment, headers={"Content-Range": content_range}, timeout=10)

    if code is None:
        assert response.status_code == 202
    else:
        assert_graph_error(response, 400, code)
        assert plain(emu).get(url, timeout=10).json()["nextExpectedRanges"] == ["0-"]


def test_a_total_that_changes_between_fragments_is_refused(emu: EmulatorHandle) -> None:
    url = start_session(delegated(emu), emu)["uploadUrl"]
    put_fragment(emu, url, b"a" * UNIT, 0, 3 * UNIT)

    response = put_fragment(emu, url, b"b" * UNIT, UNIT, 4 * UNIT)

    assert_graph_error(response, 400, "invalidRequest")


def test_the_upload_url_refuses_a_bearer_token(emu: EmulatorHandle) -> None:
    client = delegated(emu)
    url = start_session(client, emu)["uploadUrl"]
    token = client.headers["Authorization"]

    response = put_fragment(emu, url, b"x" * 10, 0, 10, Authorization=token)

    assert_graph_error(response, 401, "unauthenticated")


def test_cancel_and_expiry_make_the_session_404(emu: EmulatorHandle) -> None:
    client = delegated(emu)
    cancelled = start_session(client, emu, "/a.bin")["uploadUrl"]
    idle = start_session(client, emu, "/b.bin")["uploadUrl"]
    busy = start_session(client, emu, "/c.bin")["uploadUrl"]

    assert plain(emu).delete(cancelled, timeout=10).status_code == 204
    emu.control.advance_clock(10 * 60)
    assert put_fragment(emu, busy, b"x" * UNIT, 0, 2 * UNIT).status_code == 202  # extends its expiry
    emu.control.advance_clock(6 * 60)

    assert_graph_error(plain(emu).get(cancelled, timeout=10), 404, "itemNotFound")
    assert_graph_error(put_fragment(emu, idle, b"x" * 10, 0, 10), 404, "itemNotFound")
    assert plain(emu).get(busy, timeout=10).json()["nextExpectedRanges"] == [f"{UNIT}-"]
    assert emu.control.onedrive_expire_upload_sessions(ADELE) == 1
    assert_graph_error(plain(emu).get(busy, timeout=10), 404, "itemNotFound")


def test_a_name_taken_during_the_upload_is_resolved_at_commit(emu: EmulatorHandle) -> None:
    client = delegated(emu)
    rename = start_session(client, emu, "/Scans/scan.pdf", item={"@microsoft.graph.conflictBehavior": "rename"})
    fail = start_session(client, emu, "/Scans/scan.pdf")
    replace = start_session(client, emu, "/Scans/scan.pdf", item={"@microsoft.graph.conflictBehavior": "replace"})
    existing = emu.control.onedrive_put_file(ADELE, "/Scans/scan.pdf", text="someone else's scan")

    renamed = put_fragment(emu, rename["uploadUrl"], b"mine", 0, 4)
    failed = put_fragment(emu, fail["uploadUrl"], b"mine", 0, 4)
    replaced = put_fragment(emu, replace["uploadUrl"], b"new!", 0, 4)

    assert renamed.status_code == 201 and renamed.json()["name"] == "scan 1.pdf"
    assert_graph_error(failed, 409, "nameAlreadyExists")
    assert plain(emu).get(fail["uploadUrl"], timeout=10).json()["nextExpectedRanges"] == []  # kept until it expires
    assert replaced.status_code == 200 and replaced.json()["id"] == existing["id"]


def test_creating_a_session_for_a_taken_name_with_fail_is_409(emu: EmulatorHandle) -> None:
    response = delegated(emu).post(me(emu, "/root:/Recipes.pdf:/createUploadSession"), json={}, timeout=10)

    assert_graph_error(response, 409, "nameAlreadyExists")


def test_deferred_commit_waits_for_the_post(emu: EmulatorHandle) -> None:
    url = start_session(delegated(emu), emu, "/later.bin", deferCommit=True)["uploadUrl"]

    received = put_fragment(emu, url, b"12345", 0, 5)
    before = emu.control.onedrive_files(ADELE)
    committed = plain(emu).post(url, timeout=10)

    assert received.status_code == 202 and received.json()["nextExpectedRanges"] == []
    assert "/later.bin" not in before
    assert committed.status_code == 201 and committed.json()["size"] == 5


def test_quota_is_enforced(emu: EmulatorHandle) -> None:
    client = delegated(emu)
    used = client.get(me(emu), timeout=10).json()["quota"]["used"]
    emu.control.onedrive_set_quota(ADELE, used + 100)

    too_big = client.put(me(emu, "/root:/big.txt:/content"), data=b"x" * 101, timeout=10)
    declared = client.post(me(emu, "/root:/big.bin:/createUploadSession"), json={"item": {"fileSize": 101}}, timeout=10)

    assert_graph_error(too_big, 507, "quotaLimitReached")
    assert_graph_error(declared, 507, "quotaLimitReached")


# --- faults ---------------------------------------------------------------------------------------------------


def test_a_fragment_fails_with_retry_after_then_goes_through(emu: EmulatorHandle) -> None:
    url = start_session(delegated(emu), emu)["uploadUrl"]
    emu.control.inject_fault("onedrive_upload", status=503, retry_after=7, skip=1)

    first = put_fragment(emu, url, b"a" * UNIT, 0, 2 * UNIT)
    failed = put_fragment(emu, url, b"b" * UNIT, UNIT, 2 * UNIT)
    again = put_fragment(emu, url, b"b" * UNIT, UNIT, 2 * UNIT)

    assert first.status_code == 202
    assert_graph_error(failed, 503, "serviceNotAvailable")
    assert failed.headers["retry-after"] == "7"
    assert again.status_code == 201


def test_a_last_fragment_whose_answer_is_lost_has_committed_the_file(emu: EmulatorHandle) -> None:
    url = start_session(delegated(emu), emu)["uploadUrl"]
    emu.control.inject_fault("onedrive_upload", lose_response=True)

    with pytest.raises(requests.ConnectionError):
        put_fragment(emu, url, b"all of it", 0, 9)

    assert emu.control.onedrive_files(ADELE)["/Scans/big.bin"]["size"] == 9
    assert_graph_error(plain(emu).get(url, timeout=10), 404, "itemNotFound")
    [put] = [r for r in emu.control.requests_received("onedrive_upload") if r["method"] == "PUT"]
    assert put["status"] == 201  # what the endpoint answered, before the connection dropped


def test_a_dropped_fragment_counts_for_nothing(emu: EmulatorHandle) -> None:
    url = start_session(delegated(emu), emu)["uploadUrl"]
    emu.control.inject_fault("onedrive_upload", drop=True)

    with pytest.raises(requests.ConnectionError):
        put_fragment(emu, url, b"a" * UNIT, 0, 2 * UNIT)

    assert plain(emu).get(url, timeout=10).json()["nextExpectedRanges"] == ["0-"]


def test_downloads_can_be_throttled(emu: EmulatorHandle) -> None:
    location = delegated(emu).get(me(emu, "/root:/Recipes.pdf"), timeout=10).json()["@microsoft.graph.downloadUrl"]
    emu.control.inject_fault("onedrive_download", status=429, retry_after=3)

    throttled = plain(emu).get(location, timeout=10)

    assert_graph_error(throttled, 429, "TooManyRequests")
    assert throttled.headers["retry-after"] == "3" and plain(emu).get(location, timeout=10).status_code == 200


# --- who may do what ------------------------------------------------------------------------------------------


def test_delegated_scopes_are_checked(emu: EmulatorHandle) -> None:
    profile_only = delegated(emu, scopes=("User.Read",))
    read_only = delegated(emu, ALEX, scopes=("Files.Read",))

    assert profile_only.get(me(emu), timeout=10).status_code == 200  # a drive's description needs only User.Read
    assert_graph_error(profile_only.get(me(emu, "/root/children"), timeout=10), 403, "accessDenied")
    assert read_only.get(me(emu, "/root/children"), timeout=10).status_code == 200
    assert_graph_error(read_only.put(me(emu, "/root:/x.txt:/content"), data=b"x", timeout=10), 403, "accessDenied")
    assert_graph_error(read_only.post(me(emu, "/root:/x.bin:/createUploadSession"), timeout=10), 403, "accessDenied")


def test_a_user_reaches_only_their_own_drive(emu: EmulatorHandle) -> None:
    adele = delegated(emu)
    alex_drive = app_client(emu).get(graph(emu, f"/users/{ALEX}/drive"), timeout=10).json()

    by_user = adele.get(graph(emu, f"/users/{ALEX}/drive/root/children"), timeout=10)
    by_id = adele.get(graph(emu, f"/drives/{alex_drive['id']}/root/children"), timeout=10)
    own = adele.get(graph(emu, f"/users/{ADELE}/drive/root/children"), timeout=10)

    assert_graph_error(by_user, 403, "accessDenied")
    assert_graph_error(by_id, 403, "accessDenied")
    assert own.status_code == 200


def test_app_only_access_within_the_directory(emu: EmulatorHandle) -> None:
    files_app, sites_app = app_client(emu), app_client(emu, SITES_APP, SITES_SECRET)
    directory_reader = app_client(emu, READER_APP, READER_SECRET)
    upload = f"/users/{ADELE}/drive/root:/app.bin:/createUploadSession"

    assert names(files_app.get(graph(emu, f"/users/{ALEX}/drive/root/children"), timeout=10)) == ["Documents"]
    assert files_app.put(graph(emu, f"/users/{ADELE}/drive/root:/app.txt:/content"), data=b"x", timeout=10).ok
    assert_graph_error(files_app.post(graph(emu, upload), timeout=10), 403, "accessDenied")  # Sites.ReadWrite.All
    assert sites_app.post(graph(emu, upload), timeout=10).status_code == 200
    assert_graph_error(files_app.get(graph(emu, f"/users/{MEGAN}/drive"), timeout=10), 404, "Request_ResourceNotFound")
    assert_graph_error(directory_reader.get(graph(emu, f"/users/{ADELE}/drive/root"), timeout=10), 403, "accessDenied")
    response = files_app.get(me(emu), timeout=10)
    assert_graph_error(response, 400, "BadRequest", "/me request is only valid with delegated authentication flow.")
    assert emu.control.onedrive_files(ADELE)["/app.txt"]["size"] == 1


def test_the_created_by_of_an_app_upload_names_the_app(emu: EmulatorHandle) -> None:
    files_app = app_client(emu)

    item = files_app.put(graph(emu, f"/users/{ADELE}/drive/root:/app.txt:/content"), data=b"x", timeout=10).json()

    assert item["createdBy"] == {"application": {"id": FILES_APP}}


# --- the world behind it --------------------------------------------------------------------------------------


def test_seeded_documents_are_well_formed_pdfs(emu: EmulatorHandle) -> None:
    client = delegated(emu)
    location = client.get(me(emu, "/root:/Documents/Quarterly report.pdf"), timeout=10).json()[
        "@microsoft.graph.downloadUrl"
    ]

    pdf = plain(emu).get(location, timeout=10).content

    startxref = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert pdf[startxref:].startswith(b"xref\n0 6\n") and pdf.endswith(b"%%EOF\n")
    offsets = [int(line[:10]) for line in pdf[startxref:].split(b"\n")[3:8]]
    assert [pdf[offset:].split(b"\n")[0] for offset in offsets] == [b"%d 0 obj" % n for n in range(1, 6)]
    assert b"(Quarterly report) Tj" in pdf


def test_a_reset_forgets_changes_and_their_files(emu: EmulatorHandle) -> None:
    emu.control.onedrive_put_file(ADELE, "/big.bin", size=3_000_000)
    blobs = emu.state_dir / "onedrive" / "blobs"
    assert sum(path.stat().st_size for path in blobs.iterdir()) >= 3_000_000

    emu.control.reset()

    assert "/big.bin" not in emu.control.onedrive_files(ADELE)
    assert sum(path.stat().st_size for path in blobs.iterdir()) < 100_000


def test_generated_files_are_the_same_for_the_same_seed(emu: EmulatorHandle) -> None:
    one = emu.control.onedrive_put_file(ADELE, "/one.bin", size=1_000_000, seed=7)
    two = emu.control.onedrive_put_file(ALEX, "/two.bin", size=1_000_000, seed=7)
    other = emu.control.onedrive_put_file(ALEX, "/three.bin", size=1_000_000, seed=8)

    assert one["sha256"] == two["sha256"] != other["sha256"]


def test_quick_xor_hash_matches_microsofts_algorithm(emu: EmulatorHandle) -> None:
    # The reference: a byte i is XORed in at bit (11 * i) mod 160, then the length into the last 64 bits.
    data = bytes((n * 37 + 11) % 256 for n in range(5000))
    vector = 0
    for index, byte in enumerate(data):
        shift = index * 11 % 160
        vector ^= ((byte << shift) | (byte >> (160 - shift))) & ((1 << 160) - 1)
    digest = bytearray(vector.to_bytes(20, "little"))
    for index, byte in enumerate(len(data).to_bytes(8, "little")):
        digest[12 + index] ^= byte
    item = emu.control.onedrive_put_file(ADELE, "/hash.bin", data)
    hello = emu.control.onedrive_put_file(ADELE, "/hello.txt", b"hello world")

    assert item["quickXorHash"] == base64.b64encode(bytes(digest)).decode()
    assert hello["quickXorHash"] == "aCgDG9jwBhDc4Q1yawMZAAAAAAA="  # a published test vector


def test_names_with_spaces_and_unicode_in_paths(emu: EmulatorHandle) -> None:
    client = delegated(emu)
    url = me(emu, "/root:/" + quote("Zürich notes (v2).txt") + ":/content")

    created = client.put(url, data=b"gr\xc3\xbcezi", timeout=10)
    found = client.get(me(emu, "/root:/" + quote("zürich NOTES (v2).txt")), timeout=10)

    assert created.status_code == 201 and found.json()["name"] == "Zürich notes (v2).txt"
