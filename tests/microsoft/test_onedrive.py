"""microsoft.onedrive over real HTTPS against the emulator, with a user's delegated token from a browser sign-in."""

from __future__ import annotations

import hashlib
import io
import logging
import random
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from microsoft import errors, identity
from microsoft import onedrive as od
from tests.microsoft.conftest import CONTOSO, CONTOSO_USER, REDIRECT_URI, WEB_APP, Browser

pytestmark = pytest.mark.emulator

ADELE = CONTOSO_USER[0]
FILES = ["https://graph.microsoft.com/Files.ReadWrite"]
MB = 1024 * 1024


def sign_in(person: Browser, user: tuple[str, str] = CONTOSO_USER) -> identity.TokenGrant:
    """Connect OneDrive as the portal will: the auth code flow in a browser, Files.ReadWrite (and a refresh token)."""
    started = identity.auth_code_start(
        app=WEB_APP, tenant="organizations", scopes=FILES, redirect_uri=REDIRECT_URI, login_hint=user[0]
    )
    callback = person.sign_in(started.auth_uri, *user)
    return identity.auth_code_finish(
        app=WEB_APP, tenant="organizations", flow=started.flow, callback_params=callback, expected_tenant_id=CONTOSO
    )


@pytest.fixture
def token(m365: Any, person: Browser) -> str:
    return sign_in(person).access_token


@pytest.fixture
def big_file(tmp_path: Path) -> Iterator[tuple[BinaryIO, int, str]]:
    """A 20 MB file on disk (written in 1 MiB chunks), its size and SHA-256."""
    size, digest, generator = 20 * 1000 * 1000, hashlib.sha256(), random.Random(20)
    path = tmp_path / "scan.pdf"
    with path.open("wb") as target:
        remaining = size
        while remaining:
            chunk = generator.randbytes(min(MB, remaining))
            digest.update(chunk)
            target.write(chunk)
            remaining -= len(chunk)
    with path.open("rb") as source:
        yield source, size, digest.hexdigest()


def upload_requests(m365: Any) -> list[dict[str, Any]]:
    return m365.control.requests_received("onedrive_upload")


def graph_paths(m365: Any, method: str) -> list[str]:
    return [r["path"] for r in m365.control.requests_received("graph") if r["method"] == method]


def files_named(m365: Any, folder: str) -> dict[str, dict[str, Any]]:
    return {p: f for p, f in m365.control.onedrive_files(ADELE).items() if p.startswith(folder + "/")}


# --- reading ------------------------------------------------------------------------------------------------------


def test_the_drive_its_folders_first_and_pages(m365: Any, token: str) -> None:
    for n in range(3):
        m365.control.onedrive_put_file(ADELE, f"/Documents/Z {n}.txt", text="z")

    drive = od.drive_get(token=token)
    first = od.children_page(token=token, folder_path="/Documents", page_size=4)
    second = od.children_page(token=token, next_link=first.next_link)
    root = od.children_page(token=token)

    assert drive.owner_email == ADELE and drive.owner_name == "Adele Vance" and drive.quota_remaining
    assert [i.name for i in first.folders_first()] == [
        "Projects",
        "Quarterly report.pdf",
        "Travel policy.pdf",
        "Z 0.txt",
    ]
    assert [i.name for i in second.items] == ["Z 1.txt", "Z 2.txt"] and second.next_link is None
    assert [i.name for i in root.folders_first()] == ["Documents", "Scans", "Recipes.pdf"]
    report = first.items[1]
    assert report.path == "/Documents/Quarterly report.pdf" and report.folder_path == "/Documents"
    assert report.mime_type == "application/pdf" and report.size > 0 and report.quick_xor_hash
    assert first.items[0].is_folder and first.items[0].child_count == 3


def test_items_by_id_and_path_with_names_that_need_encoding(m365: Any, token: str) -> None:
    m365.control.onedrive_put_file(ADELE, "/Mes dossiers #1/Zürich 50% (final).pdf", pdf=["Zürich"])

    item = od.item_get(token=token, path="/Mes dossiers #1/Zürich 50% (final).pdf")
    again = od.item_get(token=token, item_id=item.id)

    assert item.name == "Zürich 50% (final).pdf" and item.folder_path == "/Mes dossiers #1"
    assert again == item and item.path == "/Mes dossiers #1/Zürich 50% (final).pdf"
    assert od.item_find(token=token, path="/Nothing here.pdf") is None
    assert od.item_get(token=token, path="/").is_root
    with pytest.raises(errors.ResourceNotFound):
        od.item_get(token=token, item_id="01AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")


def test_search_by_name(m365: Any, token: str) -> None:
    found = od.search_page(token=token, text="plan")
    quoted = od.search_page(token=token, text="Adele's")
    in_folder = od.search_page(token=token, text="pdf", folder_path="/Documents/Projects")

    assert [i.path for i in found.items] == ["/Documents/Projects/Launch plan.pdf"]
    assert quoted.items == ()
    assert [i.name for i in in_folder.items] == ["Budget 2026.pdf", "Launch plan.pdf"]


def test_download_streams_without_the_token_and_stops_at_the_limit(m365: Any, token: str) -> None:
    stored = m365.control.onedrive_put_file(ADELE, "/Documents/big.bin", size=3 * MB)
    m365.control.clear_requests()
    destination = io.BytesIO()

    written = od.file_download(token=token, item_id=stored["id"], destination=destination, max_bytes=3 * MB)
    with pytest.raises(errors.ContentTooLarge) as too_large:
        od.file_download(token=token, item_id=stored["id"], destination=io.BytesIO(), max_bytes=MB)

    assert written == 3 * MB and hashlib.sha256(destination.getvalue()).hexdigest() == stored["sha256"]
    assert too_large.value.size == 3 * MB and too_large.value.limit == MB
    [redirect, _] = [r for r in m365.control.requests_received("graph") if r["path"].endswith("/content")]
    assert redirect["headers"]["authorization"].startswith("Bearer ") and redirect["status"] == 302
    downloads = m365.control.requests_received("onedrive_download")
    assert downloads and all("authorization" not in r["headers"] for r in downloads)


def test_a_download_of_200_files_keeps_memory_flat(m365: Any, token: str, tmp_path: Path) -> None:
    stored = m365.control.onedrive_put_file(ADELE, "/Documents/scan.pdf", size=8 * MB)

    tracemalloc.start()
    try:
        with (tmp_path / "copy").open("wb") as target:
            od.file_download(token=token, item_id=stored["id"], destination=target, max_bytes=10 * MB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < MB, f"the download held {peak:,} bytes at its peak"
    assert hashlib.sha256((tmp_path / "copy").read_bytes()).hexdigest() == stored["sha256"]


# --- tidying ------------------------------------------------------------------------------------------------------


def test_delete_twice_deletes_once(m365: Any, token: str) -> None:
    item = od.item_get(token=token, path="/Recipes.pdf")

    assert od.item_delete(token=token, item_id=item.id) is True
    assert od.item_delete(token=token, item_id=item.id) is False
    assert [i["path"] for i in m365.control.onedrive_tree(ADELE)["recycle_bin"]] == ["/Recipes.pdf"]


def test_delete_only_if_unchanged(m365: Any, token: str) -> None:
    item = od.item_get(token=token, path="/Recipes.pdf")
    m365.control.onedrive_put_file(ADELE, "/Recipes.pdf", text="edited since")

    with pytest.raises(errors.MicrosoftError) as raised:
        od.item_delete(token=token, item_id=item.id, if_match=item.etag)

    assert raised.value.status == 412 and "/Recipes.pdf" in m365.control.onedrive_files(ADELE)


def test_move_to_a_printed_folder_made_when_missing(m365: Any, token: str) -> None:
    m365.control.onedrive_put_file(ADELE, "/Printed/Recipes.pdf", text="printed last week")
    m365.control.onedrive_delete(ADELE, "/Printed")  # the user removed the folder meanwhile
    item = od.item_get(token=token, path="/Recipes.pdf")

    printed = od.folder_ensure(token=token, path="/Printed")
    again = od.folder_ensure(token=token, path="/Printed")
    moved = od.item_move(token=token, item_id=item.id, folder_id=printed.id)
    repeated = od.item_move(token=token, item_id=item.id, folder_id=printed.id)

    assert printed.is_folder and again.id == printed.id
    assert moved.path == "/Printed/Recipes.pdf" and repeated.path == moved.path
    assert "/Printed/Recipes.pdf" in m365.control.onedrive_files(ADELE)


def test_a_moved_file_whose_name_is_taken_is_renamed(m365: Any, token: str) -> None:
    m365.control.onedrive_put_file(ADELE, "/Printed/Recipes.pdf", text="printed last week")
    printed = od.folder_ensure(token=token, path="/Printed")
    item = od.item_get(token=token, path="/Recipes.pdf")

    moved = od.item_move(token=token, item_id=item.id, folder_id=printed.id)

    assert moved.name == "Recipes 1.pdf"
    with pytest.raises(errors.NameConflict):
        other = od.item_get(token=token, path="/Documents/Travel policy.pdf")
        od.item_move(token=token, item_id=other.id, folder_id=printed.id, name="Recipes.pdf", conflict=od.Conflict.FAIL)


def test_folder_ensure_makes_nested_folders_and_refuses_a_file_in_the_way(m365: Any, token: str) -> None:
    nested = od.folder_ensure(token=token, path="/Scans/2026/March")

    assert nested.path == "/Scans/2026/March" and nested.is_folder
    with pytest.raises(errors.NameConflict) as raised:
        od.folder_ensure(token=token, path="/Recipes.pdf/inside")
    assert raised.value.error == "not_a_folder"


# --- uploading ----------------------------------------------------------------------------------------------------


def test_a_small_file_in_one_request_renamed_on_conflict(m365: Any, token: str) -> None:
    sessions: list[od.UploadSession] = []
    data = b"%PDF-1.4 a small scan"

    first = od.file_upload(
        token=token,
        folder_path="/Scans",
        name="scan.pdf",
        source=io.BytesIO(data),
        size=len(data),
        on_session=sessions.append,
    )
    second = od.file_upload(token=token, folder_path="/Scans", name="scan.pdf", source=io.BytesIO(data), size=len(data))

    assert (first.name, second.name) == ("scan.pdf", "scan 1.pdf")
    assert sessions and sessions[0].url is None  # nothing to resume: one request
    assert upload_requests(m365) == []
    assert set(files_named(m365, "/Scans")) == {"/Scans/scan.pdf", "/Scans/scan 1.pdf"}


def test_a_20_mb_upload_resumes_after_a_failed_fragment(m365: Any, token: str, big_file: Any) -> None:
    source, size, digest = big_file
    m365.control.inject_fault("onedrive_upload", status=503, retry_after=1, skip=1)  # the second fragment
    sessions: list[od.UploadSession] = []

    def remember(session: od.UploadSession) -> None:
        assert upload_requests(m365) == []  # kept before the first byte went out
        sessions.append(session)

    item = od.file_upload(
        token=token, folder_path="/Scans", name="scan.pdf", source=source, size=size, on_session=remember, wait_up_to=5
    )

    assert item.name == "scan.pdf" and item.size == size
    assert files_named(m365, "/Scans")["/Scans/scan.pdf"]["sha256"] == digest
    assert len(sessions) == 1 and sessions[0].url
    sent = upload_requests(m365)
    assert [(r["method"], r["status"]) for r in sent[:4]] == [("PUT", 202), ("PUT", 503), ("GET", 200), ("PUT", 202)]
    ranges = [r["headers"]["content-range"] for r in sent if r["method"] == "PUT" and r["status"] != 503]
    fragment = od.FRAGMENT_SIZE
    assert ranges == [f"bytes {o}-{min(o + fragment, size) - 1}/{size}" for o in range(0, size, fragment)]
    assert sent[3]["at"] - sent[1]["at"] >= 1.0  # Retry-After honoured
    assert all("authorization" not in r["headers"] for r in sent)


def test_an_upload_streams_its_fragments_from_disk(m365: Any, token: str, big_file: Any) -> None:
    source, size, digest = big_file
    fragment = 8 * od.FRAGMENT_UNIT  # 2.5 MiB: holding even one fragment would show

    tracemalloc.start()
    try:
        od.file_upload(
            token=token, folder_path="/Scans", name="scan.pdf", source=source, size=size, fragment_size=fragment
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < MB, f"the upload held {peak:,} bytes at its peak for fragments of {fragment:,}"
    assert files_named(m365, "/Scans")["/Scans/scan.pdf"]["sha256"] == digest
    ranges = [r["headers"]["content-range"] for r in upload_requests(m365)]
    assert ranges[0] == f"bytes 0-{fragment - 1}/{size}" and len(ranges) == -(-size // fragment)


def test_a_name_taken_during_the_upload_is_renamed(m365: Any, token: str, big_file: Any) -> None:
    source, size, _ = big_file
    m365.control.onedrive_put_file(ADELE, "/Scans/scan.pdf", text="an earlier scan")

    item = od.file_upload(token=token, folder_path="/Scans", name="scan.pdf", source=source, size=size)

    assert item.name == "scan 1.pdf"
    assert files_named(m365, "/Scans")["/Scans/scan.pdf"]["size"] == len("an earlier scan")


def test_a_lost_answer_to_the_last_fragment_finds_the_file(m365: Any, token: str, big_file: Any) -> None:
    source, size, _ = big_file
    fragments = -(-size // od.FRAGMENT_SIZE)
    m365.control.inject_fault("onedrive_upload", lose_response=True, skip=fragments - 1)

    item = od.file_upload(token=token, folder_path="/Scans", name="scan.pdf", source=source, size=size)

    assert item.path == "/Scans/scan.pdf" and item.size == size
    assert list(files_named(m365, "/Scans")) == ["/Scans/scan.pdf"]
    assert len([p for p in graph_paths(m365, "POST") if p.endswith("createUploadSession")]) == 1


def test_a_worker_killed_mid_upload_resumes_where_the_session_stands(m365: Any, token: str, big_file: Any) -> None:
    source, size, digest = big_file
    saved: list[dict[str, Any]] = []
    m365.control.inject_fault("onedrive_upload", status=503, retry_after=60, skip=2)  # longer than the task may wait

    with pytest.raises(errors.TransientError) as raised:
        od.file_upload(
            token=token, folder_path="/Scans", name="scan.pdf", source=source, size=size,
            on_session=lambda s: saved.append(s.as_json()),
        )  # fmt: skip
    m365.control.clear_requests()
    item = od.file_upload(
        token=token, folder_path="/Scans", name="scan.pdf", source=source, size=size,
        resume=od.UploadSession.from_json(saved[-1]),
    )  # fmt: skip

    assert raised.value.retry_after == 60
    assert item.name == "scan.pdf" and files_named(m365, "/Scans")["/Scans/scan.pdf"]["sha256"] == digest
    puts = [r for r in upload_requests(m365) if r["method"] == "PUT"]
    assert puts[0]["headers"]["content-range"].startswith(f"bytes {2 * od.FRAGMENT_SIZE}-")
    assert graph_paths(m365, "POST") == []  # no second session


def test_a_worker_killed_after_the_last_fragment_finds_the_finished_file(m365: Any, token: str, big_file: Any) -> None:
    source, size, _ = big_file
    saved: list[od.UploadSession] = []
    od.file_upload(
        token=token, folder_path="/Scans", name="scan.pdf", source=source, size=size, on_session=saved.append
    )
    m365.control.clear_requests()  # the worker died before it recorded the result; the task runs again

    item = od.file_upload(token=token, folder_path="/Scans", name="scan.pdf", source=source, size=size, resume=saved[0])

    assert item.name == "scan.pdf"
    assert list(files_named(m365, "/Scans")) == ["/Scans/scan.pdf"]
    assert [r["method"] for r in upload_requests(m365)] == ["GET"]  # the session's status (404), nothing sent
    assert graph_paths(m365, "POST") == [] and graph_paths(m365, "PUT") == []


def test_a_small_file_sent_before_the_worker_died_is_not_sent_again(m365: Any, token: str) -> None:
    data = b"%PDF-1.4 small"
    saved: list[od.UploadSession] = []
    od.file_upload(
        token=token,
        folder_path="/Scans",
        name="scan.pdf",
        source=io.BytesIO(data),
        size=len(data),
        on_session=saved.append,
    )
    m365.control.onedrive_put_file(ADELE, "/Scans/other.pdf", data)  # same bytes, another name: not it

    item = od.file_upload(
        token=token, folder_path="/Scans", name="scan.pdf", source=io.BytesIO(data), size=len(data), resume=saved[0]
    )

    assert item.name == "scan.pdf" and set(files_named(m365, "/Scans")) == {"/Scans/scan.pdf", "/Scans/other.pdf"}


def test_an_older_identical_file_is_not_taken_for_this_upload(m365: Any, token: str) -> None:
    data = b"%PDF-1.4 the same scan, sent twice on purpose"
    m365.control.onedrive_put_file(ADELE, "/Scans/scan.pdf", data)
    m365.control.advance_clock(3600)  # an hour later, this upload starts and its worker dies before sending
    attempt = od.UploadSession(started_at=datetime.now(UTC) + timedelta(hours=1))

    item = od.file_upload(
        token=token, folder_path="/Scans", name="scan.pdf", source=io.BytesIO(data), size=len(data), resume=attempt
    )

    assert item.name == "scan 1.pdf"


def test_an_expired_session_is_given_up_and_a_new_one_finishes(m365: Any, token: str, big_file: Any) -> None:
    source, size, digest = big_file
    saved: list[od.UploadSession] = []
    m365.control.inject_fault("onedrive_upload", status=503, retry_after=60, skip=1)
    with pytest.raises(errors.TransientError):
        od.file_upload(
            token=token, folder_path="/Scans", name="scan.pdf", source=source, size=size, on_session=saved.append
        )
    m365.control.advance_clock(16 * 60)  # the retry comes after the session's 15 idle minutes

    item = od.file_upload(
        token=token, folder_path="/Scans", name="scan.pdf", source=source, size=size, resume=saved[0],
        on_session=saved.append,
    )  # fmt: skip

    assert item.name == "scan.pdf" and files_named(m365, "/Scans")["/Scans/scan.pdf"]["sha256"] == digest
    assert len(saved) == 2 and saved[1].url != saved[0].url
    assert m365.control.onedrive_tree(ADELE)["upload_sessions"] == []
    assert od.upload_session_status(session=saved[0]) is None


def test_a_session_that_expires_during_the_upload_raises_gone(m365: Any, token: str, big_file: Any) -> None:
    source, size, _ = big_file
    session = od.upload_session_create(token=token, folder_path="/Scans", name="scan.pdf", size=size)
    m365.control.onedrive_expire_upload_sessions(ADELE)

    with pytest.raises(errors.UploadSessionGone):
        od.upload_session_send(session=session, source=source, size=size)

    assert files_named(m365, "/Scans") == {}


def test_a_cancelled_session_leaves_nothing(m365: Any, token: str) -> None:
    session = od.upload_session_create(token=token, folder_path="/Scans", name="scan.pdf")
    status = od.upload_session_status(session=session)

    od.upload_session_cancel(session=session)
    od.upload_session_cancel(session=session)  # twice is fine

    assert status is not None and status.next_offset == 0 and status.expires_at is not None
    assert od.upload_session_status(session=session) is None
    assert m365.control.onedrive_tree(ADELE)["upload_sessions"] == []


def test_a_full_drive(m365: Any, token: str, big_file: Any) -> None:
    source, size, _ = big_file
    used = od.drive_get(token=token).quota_used or 0
    m365.control.onedrive_set_quota(ADELE, used + MB)

    with pytest.raises(errors.QuotaExceeded) as raised:
        od.file_upload(token=token, folder_path="/Scans", name="scan.pdf", source=source, size=size)

    assert isinstance(raised.value, errors.TransientError) and "full" in raised.value.explanation


# --- throttling and errors ----------------------------------------------------------------------------------------


def test_throttled_graph_calls_wait_for_retry_after_when_allowed(m365: Any, token: str, big_file: Any) -> None:
    source, size, _ = big_file
    m365.control.inject_fault("graph", status=429, retry_after=1)

    od.file_upload(token=token, folder_path="/Scans", name="scan.pdf", source=source, size=size, wait_up_to=5)

    creates = [r for r in m365.control.requests_received("graph") if r["path"].endswith("createUploadSession")]
    assert [r["status"] for r in creates] == [429, 200] and creates[1]["at"] - creates[0]["at"] >= 1.0


def test_throttling_beyond_the_allowed_wait_is_the_callers(m365: Any, token: str) -> None:
    m365.control.inject_fault("graph", status=503, retry_after=30)

    with pytest.raises(errors.TransientError) as raised:
        od.children_page(token=token)

    assert raised.value.retry_after == 30 and len(m365.control.requests_received("graph")) == 1


def test_a_revoked_token_and_a_missing_permission(m365: Any, person: Browser) -> None:
    grant = sign_in(person)
    m365.control.revoke_access_tokens(CONTOSO, WEB_APP.client_id)

    with pytest.raises(errors.AccessTokenRejected):
        od.children_page(token=grant.access_token)
    assert grant.account is not None
    refreshed = identity.token_acquire_silent(
        app=WEB_APP,
        tenant="organizations",
        token_cache=grant.token_cache,
        home_account_id=grant.account.home_account_id,
        scopes=FILES,
        force_refresh=True,
    )
    assert od.children_page(token=refreshed.access_token).items

    profile_only = identity.client_credentials_acquire(  # an app token without any Files permission
        app=WEB_APP, tenant=CONTOSO, scope="https://graph.microsoft.com/.default"
    )
    with pytest.raises(errors.PermissionMissing) as raised:
        od.children_page(token=profile_only.access_token, drive=f"/users/{ADELE}/drive")
    assert "Reconnect OneDrive" in raised.value.explanation


def test_another_users_files_are_out_of_reach(m365: Any, token: str) -> None:
    alex = od.item_find(token=token, path="/Documents/Expense report.pdf")

    with pytest.raises(errors.PermissionMissing):
        od.children_page(token=token, drive="/users/alex.wilber@contoso.onmicrosoft.com/drive")
    assert alex is None


def test_logs_never_show_a_preauthenticated_url(m365: Any, token: str, big_file: Any, caplog: Any) -> None:
    source, size, _ = big_file
    session = od.upload_session_create(token=token, folder_path="/Scans", name="scan.pdf")
    item = od.item_get(token=token, path="/Recipes.pdf")
    m365.control.inject_fault("onedrive_upload", status=503, retry_after=60)
    m365.control.inject_fault("onedrive_download", status=503)

    with caplog.at_level(logging.DEBUG), pytest.raises(errors.TransientError):
        od.upload_session_send(session=session, source=source, size=size)
    with caplog.at_level(logging.DEBUG), pytest.raises(errors.TransientError):
        od.file_download(token=token, item_id=item.id, destination=io.BytesIO(), max_bytes=MB)

    assert session.url is not None
    download = m365.control.requests_received("onedrive_download")[0]["path"]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "pre-authenticated" in logged
    assert session.url.rsplit("/", 1)[1] not in logged and download.rsplit("/", 1)[1] not in logged


def test_an_upload_url_that_is_not_https_is_not_called(m365: Any) -> None:
    plain = od.UploadSession(started_at=datetime.now(UTC), url=m365.http_url + "/onedrive/up/secret")

    with pytest.raises(errors.ConfigurationError):
        od.upload_session_status(session=plain)

    assert m365.control.requests_received("onedrive_upload") == []


# --- names and hashes ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("Scan 2026-03-01 10:15.pdf", "Scan 2026-03-01 10_15.pdf"),
        ('a/b\\c*d?"e<f>g|h.pdf', "a_b_c_d__e_f_g_h.pdf"),
        ("  report.  ", "report"),
        ("CON", "Document CON"),
        ("nul.txt", "Document nul.txt"),
        ("~$draft.docx", "_$draft.docx"),
        ("", "Document"),
        ("x" * 300 + ".pdf", "x" * 196 + ".pdf"),
    ],
)
def test_safe_file_names(name: str, safe: str) -> None:
    assert od.safe_file_name(name) == safe


def test_quick_xor_hash_matches_onedrive(m365: Any, big_file: Any) -> None:
    source, _, _ = big_file
    data = source.read(3 * MB + 123)
    stored = m365.control.onedrive_put_file(ADELE, "/hash.bin", data)

    assert od.quick_xor_hash(io.BytesIO(data)) == stored["quickXorHash"]
    assert od.quick_xor_hash(io.BytesIO(b"hello world")) == "aCgDG9jwBhDc4Q1yawMZAAAAAAA="
    assert od.quick_xor_hash(io.BytesIO(b"")) == "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
