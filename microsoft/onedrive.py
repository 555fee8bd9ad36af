"""A user's OneDrive through Microsoft Graph: browse, search, download, tidy up, and upload files that may be large.

Calls take the user's delegated token (``Files.ReadWrite``) and address the signed-in user's drive (``/me/drive``)
unless ``drive`` names another (``/users/{id}/drive``, ``/drives/{id}``: app-only tokens). Paths are
``/Folder/name.pdf`` from the drive's root; ``/`` is the root. Results are typed (`DriveItem`, `ItemPage`,
`Drive`, `UploadSession`); nothing here knows Django.

Browsing, one page per request (the page keeps ``next_link`` for "more")::

    page = children_page(token=token, folder_path="/Documents")       # or folder_id=...
    shown = page.folders_first()
    more = children_page(token=token, next_link=page.next_link)
    found = search_page(token=token, text="invoice")                   # names, in the whole drive

Downloading streams into a file and never holds the file in memory; the 302 to the pre-authenticated URL is
followed without the bearer token::

    with tempfile.TemporaryFile() as file:
        file_download(token=token, item_id=item.id, destination=file, max_bytes=limit)

Tidying after printing is idempotent (a redelivered task finds the work done)::

    item_delete(token=token, item_id=item.id)                     # False: it was already gone
    printed = folder_ensure(token=token, path="/Printed")         # made when missing
    item_move(token=token, item_id=item.id, folder_id=printed.id) # a taken name becomes "name 1.pdf"

Uploading (``Conflict.RENAME``: never an overwrite; the folder must exist, see `folder_ensure`)::

    item = file_upload(token=token, folder_path="/Scans", name=safe_file_name(name), source=file, size=size,
                       resume=UploadSession.from_json(saved) if saved else None,
                       on_session=lambda session: save(session.as_json()))

`file_upload` sends a file of up to 4 MiB in one request and a larger one through an upload session, in fragments
of 5 MiB (a multiple of 320 KiB, as Microsoft requires) streamed from the file in small blocks, so memory stays
flat whatever the size. It calls ``on_session`` before the first byte goes out so the caller can keep the session
(its URL is a credential: store it encrypted, like a token). After a failed fragment it asks the session which
bytes arrived (``nextExpectedRanges``) and goes on from there. Given ``resume`` (a worker that died mid-upload), it
continues that session. When a session is gone (expired, cancelled, or its last fragment committed the file but
the answer was lost) it looks in the folder for the finished file (the same size and QuickXorHash, created since
the upload started) and returns it; only when there is none does it start a new session. So a task redelivered
at any point never leaves two copies, and an expired session leaves nothing half-written behind.

Failures are `microsoft.errors`: `TransientError` (429, 5xx, timeouts, fragments failing more than
`FRAGMENT_ATTEMPTS` times; retry no earlier than ``retry_after``, an upload resumes from its saved session),
`QuotaExceeded` (the drive is full), `AccessTokenRejected` (401: refresh the token once), `PermissionMissing`
(403: the user must reconnect OneDrive), `ResourceNotFound` (404), `NameConflict` (409, with `Conflict.FAIL`),
`ContentTooLarge` (a download over ``max_bytes``), `UploadSessionGone`. Nothing waits for ``Retry-After`` unless
the caller allows it (``wait_up_to`` seconds).

References:
- driveItem https://learn.microsoft.com/graph/api/resources/driveitem
- Get a drive https://learn.microsoft.com/graph/api/drive-get
- Get a driveItem (by id, by path) https://learn.microsoft.com/graph/api/driveitem-get
- List children https://learn.microsoft.com/graph/api/driveitem-list-children
- Search https://learn.microsoft.com/graph/api/driveitem-search
- Download content https://learn.microsoft.com/graph/api/driveitem-get-content
- Create folder https://learn.microsoft.com/graph/api/driveitem-post-children
- Move https://learn.microsoft.com/graph/api/driveitem-move
- Delete https://learn.microsoft.com/graph/api/driveitem-delete
- Simple upload https://learn.microsoft.com/graph/api/driveitem-put-content
- Upload session https://learn.microsoft.com/graph/api/driveitem-createuploadsession
- conflictBehavior https://learn.microsoft.com/graph/api/resources/driveitem#instance-attributes
- itemReference (percent-encoded path) https://learn.microsoft.com/graph/api/resources/itemreference
- QuickXorHash https://learn.microsoft.com/onedrive/developer/code-snippets/quickxorhash
- Names OneDrive refuses https://support.microsoft.com/office/restrictions-and-limitations-in-onedrive-and-sharepoint-64883a5d-228e-48f5-b3d2-eb39e07630fa
"""

from __future__ import annotations

import base64
import enum
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO
from urllib.parse import quote, unquote

from microsoft import errors
from microsoft.graph import graph_download, graph_get, graph_page, graph_send, graph_url, preauthenticated_send

__all__ = [
    "FRAGMENT_ATTEMPTS",
    "FRAGMENT_SIZE",
    "FRAGMENT_UNIT",
    "ME",
    "PAGE_SIZE",
    "SIMPLE_UPLOAD_MAX",
    "Conflict",
    "Drive",
    "DriveItem",
    "ItemPage",
    "UploadSession",
    "children_page",
    "drive_get",
    "file_download",
    "file_upload",
    "file_upload_simple",
    "folder_ensure",
    "item_delete",
    "item_find",
    "item_get",
    "item_move",
    "quick_xor_hash",
    "safe_file_name",
    "search_page",
    "upload_session_cancel",
    "upload_session_create",
    "upload_session_send",
    "upload_session_status",
    "uploaded_find",
]

logger = logging.getLogger(__name__)

ME = "/me/drive"
SIMPLE_UPLOAD_MAX = 4 * 1024 * 1024  # Microsoft allows more today; 4 MiB is safe everywhere (older limit)
FRAGMENT_UNIT = 320 * 1024  # every fragment but the last is a multiple of this
FRAGMENT_SIZE = 16 * FRAGMENT_UNIT  # 5 MiB, the low end of Microsoft's recommended 5-10 MiB
PAGE_SIZE = 200
FRAGMENT_ATTEMPTS = 3  # failed fragments one call tolerates (resuming each time) before leaving it to the caller
CLOCK_SKEW = timedelta(minutes=5)  # between this server's clock and Microsoft's, when comparing creation times
_ITEM_FIELDS = (
    "id",
    "name",
    "size",
    "file",
    "folder",
    "root",
    "parentReference",
    "eTag",
    "cTag",
    "webUrl",
    "createdDateTime",
    "lastModifiedDateTime",
)
_CONFLICT = "@microsoft.graph.conflictBehavior"
_FORBIDDEN = re.compile(r'["*:<>?/\\|\x00-\x1f]')
_RESERVED = {".lock", "con", "prn", "aux", "nul", "desktop.ini"} | {
    f"{p}{n}" for p in ("com", "lpt") for n in range(10)
}
_NAME_LIMIT = 200
_QX_WIDTH, _QX_BLOCK = 160, 160 * 4096


class Conflict(enum.StrEnum):
    """What Graph does when the name is taken (``@microsoft.graph.conflictBehavior``)."""

    FAIL = "fail"  # 409 NameConflict
    REPLACE = "replace"  # a new version of the existing file
    RENAME = "rename"  # "name 1.pdf"


# --- results ------------------------------------------------------------------------------------------------------


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True)
class DriveItem:
    """A file or folder of a drive. ``folder_path`` is the folder it is in (``/`` for the root's children)."""

    id: str
    name: str
    folder_path: str
    is_folder: bool
    size: int
    mime_type: str | None = None
    child_count: int | None = None
    etag: str | None = None
    ctag: str | None = None
    quick_xor_hash: str | None = None
    web_url: str | None = None
    created: datetime | None = None
    modified: datetime | None = None
    drive_id: str | None = None
    parent_id: str | None = None
    is_root: bool = False

    @property
    def path(self) -> str:
        if self.is_root:
            return "/"
        return f"{self.folder_path.rstrip('/')}/{self.name}"

    @classmethod
    def from_graph(cls, body: Mapping[str, Any]) -> DriveItem:
        parent: Mapping[str, Any] = _mapping(body.get("parentReference")) or {}
        file = _mapping(body.get("file"))
        folder = _mapping(body.get("folder"))
        hashes: Mapping[str, Any] = (_mapping(file.get("hashes")) if file else None) or {}
        return cls(
            id=str(body["id"]),
            name=str(body.get("name") or ""),
            folder_path=_folder_path(str(parent.get("path") or "")),
            is_folder=folder is not None or "root" in body,
            size=int(body.get("size") or 0),
            mime_type=str(file["mimeType"]) if file and file.get("mimeType") else None,
            child_count=int(folder["childCount"]) if folder and folder.get("childCount") is not None else None,
            etag=body.get("eTag"),
            ctag=body.get("cTag"),
            quick_xor_hash=hashes.get("quickXorHash"),
            web_url=body.get("webUrl"),
            created=_when(body.get("createdDateTime")),
            modified=_when(body.get("lastModifiedDateTime")),
            drive_id=parent.get("driveId"),
            parent_id=parent.get("id"),
            is_root="root" in body,
        )


def _mapping(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def _folder_path(reference_path: str) -> str:
    """``/drives/{id}/root:/My%20Folder`` (percent-encoded) -> ``/My Folder``; the root -> ``/``."""
    _, found, rest = reference_path.partition("root:")
    return "/" + unquote(rest).strip("/") if found else "/"


@dataclass(frozen=True)
class ItemPage:
    """One page of a folder's items or of search results; ``next_link`` gives the next page (None on the last)."""

    items: tuple[DriveItem, ...]
    next_link: str | None

    def folders_first(self) -> tuple[DriveItem, ...]:
        """This page's folders, then its files, each in the order Graph gave (by name for `children_page`)."""
        return tuple(i for i in self.items if i.is_folder) + tuple(i for i in self.items if not i.is_folder)


@dataclass(frozen=True)
class Drive:
    id: str
    owner_id: str | None
    owner_name: str | None
    owner_email: str | None
    quota_total: int | None
    quota_used: int | None
    quota_remaining: int | None


@dataclass(frozen=True)
class UploadSession:
    """An upload in progress, to keep between attempts (`as_json` / `from_json`).

    ``url`` is the session's upload URL (None for a file sent in one request, which has nothing to resume);
    ``started_at`` (this server's clock) tells a finished file of this upload from older ones. The URL is a
    credential for writing into the user's drive until it expires: store it as a secret.
    """

    started_at: datetime
    url: str | None = None
    expires_at: datetime | None = None
    next_expected_ranges: tuple[str, ...] = field(default=("0-",))

    @property
    def next_offset(self) -> int | None:
        """Where the next fragment starts; None once every byte arrived."""
        if not self.next_expected_ranges:
            return None
        return int(self.next_expected_ranges[0].split("-")[0] or 0)

    def as_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "started_at": self.started_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UploadSession:
        return cls(
            started_at=_when(data.get("started_at")) or datetime.now(UTC),
            url=data.get("url") or None,
            expires_at=_when(data.get("expires_at")),
        )

    def with_status(self, body: Mapping[str, Any]) -> UploadSession:
        ranges = body.get("nextExpectedRanges")
        return UploadSession(
            started_at=self.started_at,
            url=self.url,
            expires_at=_when(body.get("expirationDateTime")) or self.expires_at,
            next_expected_ranges=tuple(str(r) for r in ranges) if isinstance(ranges, list) else (),
        )


# --- URLs -----------------------------------------------------------------------------------------------------


def _clean(path: str) -> str:
    return "/" + "/".join(part for part in path.split("/") if part)


def _by_path(drive: str, path: str, action: str = "") -> str:
    """``{drive}/root:/a/b.pdf:/action`` (names percent-encoded), ``{drive}/root/action`` for ``/``."""
    clean = _clean(path)
    target = f"{drive}/root" if clean == "/" else f"{drive}/root:{quote(clean)}:"
    return target + (f"/{action}" if action else "")


def _by_id(drive: str, item_id: str, action: str = "") -> str:
    return f"{drive}/items/{quote(item_id, safe='!')}" + (f"/{action}" if action else "")


def _item(drive: str, item_id: str | None, path: str | None, action: str = "") -> str:
    if item_id:
        return _by_id(drive, item_id, action)
    return _by_path(drive, path or "/", action)


def _in_folder(drive: str, folder_id: str | None, folder_path: str | None, name: str, action: str) -> str:
    """``{folder}:/{name}:/{action}``: a child that may not exist yet."""
    if folder_id:
        return f"{_by_id(drive, folder_id)}:/{quote(name)}:/{action}"
    return _by_path(drive, f"{_clean(folder_path or '/')}/{name}", action)


def _with_conflict(url: str, conflict: Conflict) -> str:
    return f"{url}{'&' if '?' in url else '?'}{_CONFLICT}={conflict.value}"


@contextmanager
def _onedrive_errors() -> Iterator[None]:
    """A 403 on the user's files means the OneDrive connection lacks its permission: say so."""
    try:
        yield
    except errors.PermissionMissing as error:
        raise errors.PermissionMissing(
            "Microsoft refused access to the OneDrive files: the connection lacks its permission (Files.ReadWrite) "
            "or it was withdrawn. Reconnect OneDrive to grant it again.",
            error=error.error,
            description=error.description,
            correlation_id=error.correlation_id,
            status=error.status,
        ) from error


# --- reading ------------------------------------------------------------------------------------------------------


def drive_get(*, token: str, drive: str = ME) -> Drive:
    """The drive, its owner and quota (what "OneDrive connected as ..." shows).

    Reference: https://learn.microsoft.com/graph/api/drive-get
    """
    with _onedrive_errors():
        body = graph_get(token=token, url=graph_url(drive))
    owner = (body.get("owner") or {}).get("user") or {}
    quota = body.get("quota") or {}
    return Drive(
        id=str(body["id"]),
        owner_id=owner.get("id"),
        owner_name=owner.get("displayName"),
        owner_email=owner.get("email"),
        quota_total=quota.get("total"),
        quota_used=quota.get("used"),
        quota_remaining=quota.get("remaining"),
    )


def item_get(*, token: str, item_id: str | None = None, path: str | None = None, drive: str = ME) -> DriveItem:
    """An item by id, or by path (``/Documents/report.pdf``; ``/`` is the root). `errors.ResourceNotFound` if none.

    Reference: https://learn.microsoft.com/graph/api/driveitem-get
    """
    with _onedrive_errors():
        body = graph_get(token=token, url=graph_url(_item(drive, item_id, path), select=_ITEM_FIELDS))
    return DriveItem.from_graph(body)


def item_find(*, token: str, path: str, drive: str = ME) -> DriveItem | None:
    """The item at ``path``, or None when there is none."""
    try:
        return item_get(token=token, path=path, drive=drive)
    except errors.ResourceNotFound:
        return None


def children_page(
    *,
    token: str,
    folder_id: str | None = None,
    folder_path: str | None = None,
    next_link: str | None = None,
    page_size: int = PAGE_SIZE,
    drive: str = ME,
) -> ItemPage:
    """One page of a folder's items, by name (the root when neither ``folder_id`` nor ``folder_path`` is given);
    ``next_link`` (from the previous page) gives the next one.

    Reference: https://learn.microsoft.com/graph/api/driveitem-list-children
    """
    url = next_link or graph_url(
        _item(drive, folder_id, folder_path, "children"), select=_ITEM_FIELDS, top=page_size, orderby="name"
    )
    return _page(token, url)


def search_page(
    *,
    token: str,
    text: str,
    folder_id: str | None = None,
    folder_path: str | None = None,
    next_link: str | None = None,
    page_size: int = PAGE_SIZE,
    drive: str = ME,
) -> ItemPage:
    """One page of the items below a folder (the whole drive by default) that match ``text``.

    Microsoft matches names, metadata and contents, and indexes new files after a while: do not use search to
    check that something was just uploaded (see `uploaded_find`).

    Reference: https://learn.microsoft.com/graph/api/driveitem-search
    """
    if next_link is None:
        function = f"search(q='{quote(text.replace(chr(39), chr(39) * 2), safe='')}')"
        next_link = graph_url(_item(drive, folder_id, folder_path, function), select=_ITEM_FIELDS, top=page_size)
    return _page(token, next_link)


def _page(token: str, url: str) -> ItemPage:
    with _onedrive_errors():
        page = graph_page(token=token, url=url)
    return ItemPage(items=tuple(DriveItem.from_graph(o) for o in page.objects if "id" in o), next_link=page.next_link)


def file_download(
    *, token: str, item_id: str, destination: BinaryIO, max_bytes: int, drive: str = ME, wait_up_to: float = 0.0
) -> int:
    """Stream a file's content into ``destination``; the bytes written. Graph answers with a 302 to a
    pre-authenticated URL, fetched without the token. Over ``max_bytes``: `errors.ContentTooLarge` (discard what
    was written).

    Reference: https://learn.microsoft.com/graph/api/driveitem-get-content
    """
    with _onedrive_errors():
        return graph_download(
            token=token,
            url=graph_url(_by_id(drive, item_id, "content")),
            destination=destination,
            max_bytes=max_bytes,
            wait_up_to=wait_up_to,
        )


# --- tidying ------------------------------------------------------------------------------------------------------


def item_delete(*, token: str, item_id: str, if_match: str | None = None, drive: str = ME) -> bool:
    """Delete an item (into the user's recycle bin); False when it was already gone.

    ``if_match`` (an ``etag``/``ctag`` read earlier) deletes it only if unchanged since; otherwise Graph answers
    412 (`errors.MicrosoftError` with ``status`` 412).

    Reference: https://learn.microsoft.com/graph/api/driveitem-delete
    """
    headers = {"If-Match": if_match} if if_match else None
    try:
        with _onedrive_errors():
            graph_send(token=token, method="DELETE", url=graph_url(_by_id(drive, item_id)), headers=headers)
    except errors.ResourceNotFound:
        return False
    return True


def item_move(
    *,
    token: str,
    item_id: str,
    folder_id: str,
    name: str | None = None,
    conflict: Conflict = Conflict.RENAME,
    drive: str = ME,
) -> DriveItem:
    """Move an item into a folder (and rename it when ``name`` is given); the item where it is now.

    Moving an item into the folder it is already in changes nothing, so a repeated move is harmless.

    Reference: https://learn.microsoft.com/graph/api/driveitem-move
    """
    body: dict[str, Any] = {"parentReference": {"id": folder_id}}
    if name is not None:
        body["name"] = name
    url = _with_conflict(graph_url(_by_id(drive, item_id)), conflict)
    with _onedrive_errors():
        return DriveItem.from_graph(graph_send(token=token, method="PATCH", url=url, body=body))


def folder_ensure(*, token: str, path: str, drive: str = ME) -> DriveItem:
    """The folder at ``path``, made (with the folders on the way) when missing. A file in the way raises
    `errors.NameConflict`.

    Reference: https://learn.microsoft.com/graph/api/driveitem-post-children
    """
    existing = item_find(token=token, path=path, drive=drive)
    if existing is not None:
        return _must_be_folder(existing)
    folder = item_get(token=token, path="/", drive=drive)
    walked = ""
    for name in [part for part in path.split("/") if part]:
        walked += "/" + name
        found = item_find(token=token, path=walked, drive=drive)
        folder = _must_be_folder(found) if found is not None else _folder_create(token, drive, folder, name, walked)
    return folder


def _folder_create(token: str, drive: str, parent: DriveItem, name: str, path: str) -> DriveItem:
    body = {"name": name, "folder": {}, _CONFLICT: Conflict.FAIL.value}
    url = graph_url(_by_id(drive, parent.id, "children") if not parent.is_root else _by_path(drive, "/", "children"))
    try:
        with _onedrive_errors():
            return DriveItem.from_graph(graph_send(token=token, method="POST", url=url, body=body))
    except errors.NameConflict:  # made meanwhile (another task, or the user)
        return _must_be_folder(item_get(token=token, path=path, drive=drive))


def _must_be_folder(item: DriveItem) -> DriveItem:
    if not item.is_folder:
        raise errors.NameConflict(
            f"A file named “{item.name}” is where a folder is needed in OneDrive. Rename or move that file.",
            error="not_a_folder",
        )
    return item


# --- uploading ----------------------------------------------------------------------------------------------------


def file_upload_simple(
    *,
    token: str,
    name: str,
    content: bytes,
    folder_path: str | None = None,
    folder_id: str | None = None,
    conflict: Conflict = Conflict.RENAME,
    drive: str = ME,
    wait_up_to: float = 0.0,
) -> DriveItem:
    """A small file (≤ `SIMPLE_UPLOAD_MAX`) in one request; the item as stored (its final name under RENAME).

    Reference: https://learn.microsoft.com/graph/api/driveitem-put-content
    """
    if len(content) > SIMPLE_UPLOAD_MAX:
        raise ValueError(f"{len(content)} bytes is more than a simple upload takes; use file_upload")
    url = _with_conflict(graph_url(_in_folder(drive, folder_id, folder_path, name, "content")), conflict)
    with _onedrive_errors():
        body = graph_send(token=token, method="PUT", url=url, content=content, wait_up_to=wait_up_to)
    return DriveItem.from_graph(body)


def upload_session_create(
    *,
    token: str,
    name: str,
    folder_path: str | None = None,
    folder_id: str | None = None,
    conflict: Conflict = Conflict.RENAME,
    size: int | None = None,
    drive: str = ME,
    wait_up_to: float = 0.0,
) -> UploadSession:
    """A new upload session for ``name`` in the folder; ``size`` lets Microsoft refuse at once a file that does
    not fit (`errors.QuotaExceeded`). The conflict behaviour applies when the last fragment commits the file.

    Reference: https://learn.microsoft.com/graph/api/driveitem-createuploadsession
    """
    started_at = datetime.now(UTC)
    item: dict[str, Any] = {_CONFLICT: conflict.value, "name": name}
    if size is not None:
        item["fileSize"] = size
    url = graph_url(_in_folder(drive, folder_id, folder_path, name, "createUploadSession"))
    with _onedrive_errors():
        body = graph_send(token=token, method="POST", url=url, body={"item": item}, wait_up_to=wait_up_to)
    return UploadSession(started_at=started_at, url=str(body["uploadUrl"])).with_status(
        {"nextExpectedRanges": ["0-"], **body}
    )


def upload_session_status(*, session: UploadSession) -> UploadSession | None:
    """What the session has received (``next_expected_ranges``, ``next_offset``), or None when it is gone.

    Reference: https://learn.microsoft.com/graph/api/driveitem-createuploadsession#resuming-an-in-progress-upload
    """
    if session.url is None:
        return None
    try:
        _, body = preauthenticated_send(method="GET", url=session.url)
    except (errors.ResourceNotFound, errors.AccessTokenRejected):
        return None  # 404: expired, cancelled or committed; 401: the URL itself expired
    return session.with_status(body)


def upload_session_cancel(*, session: UploadSession) -> None:
    """Cancel the session (Microsoft drops what it received); a session already gone is fine.

    Reference: https://learn.microsoft.com/graph/api/driveitem-createuploadsession#cancel-the-upload-session
    """
    if session.url is None:
        return
    with suppress(errors.ResourceNotFound, errors.AccessTokenRejected):
        preauthenticated_send(method="DELETE", url=session.url)


def upload_session_send(
    *,
    session: UploadSession,
    source: BinaryIO,
    size: int,
    fragment_size: int = FRAGMENT_SIZE,
    wait_up_to: float = 0.0,
) -> DriveItem:
    """Send the bytes the session still expects, fragment by fragment, from ``session.next_offset``; the file once
    the last fragment commits it.

    ``source`` must be seekable; each fragment streams from it in small blocks. After a failed fragment (a dropped
    connection, 5xx, 429, or 416 when the session already had those bytes) the session is asked where it stands and
    the upload goes on from there, up to `FRAGMENT_ATTEMPTS` times; a ``Retry-After`` is waited for only within
    ``wait_up_to`` seconds, else the error is raised for the caller to retry later (the session keeps what it got).
    A session that is gone raises `errors.UploadSessionGone`.

    Reference: https://learn.microsoft.com/graph/api/driveitem-createuploadsession#upload-bytes-to-the-upload-session
    """
    if session.url is None:
        raise ValueError("this upload has no session")
    if fragment_size <= 0 or fragment_size % FRAGMENT_UNIT:
        raise ValueError("fragment_size must be a positive multiple of 320 KiB (327,680 bytes)")
    offset, failures, waited = session.next_offset, 0, 0.0
    while True:
        if offset is None:
            raise errors.MicrosoftError(
                "OneDrive has every byte of the upload but did not make the file.", error="upload_not_committed"
            )
        try:
            status, body = _send_fragment(session.url, source, offset, min(fragment_size, size - offset), size)
        except errors.MicrosoftError as error:
            if isinstance(error, errors.ResourceNotFound | errors.AccessTokenRejected):
                raise _gone(error) from error
            if not _resumable(error) or failures >= FRAGMENT_ATTEMPTS:
                raise
            failures += 1
            waited += _wait_for(error, wait_up_to - waited)
            offset = _resume_offset(session)
            logger.info("OneDrive upload resumes at byte %s of %s after %s", offset, size, error.error or error.status)
            continue
        if status in (200, 201):
            return DriveItem.from_graph(body)
        offset = session.with_status(body).next_offset


def _send_fragment(url: str, source: BinaryIO, offset: int, length: int, size: int) -> tuple[int, dict[str, Any]]:
    content_range = f"bytes {offset}-{offset + length - 1}/{size}"
    fragment = _Fragment(source, offset, length)
    return preauthenticated_send(method="PUT", url=url, content=fragment, headers={"Content-Range": content_range})


class _Fragment:
    """A window of the source that the HTTP client streams in small blocks: a fragment is never in memory whole.

    Its length is known up front (``__len__``: the Content-Length); it has no ``tell`` or ``fileno``, which would
    make requests measure the whole file instead.
    """

    def __init__(self, source: BinaryIO, offset: int, length: int) -> None:
        self._source, self._remaining, self._length = source, length, length
        source.seek(offset)

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        wanted = self._remaining if size is None or size < 0 else min(size, self._remaining)
        chunk = self._source.read(wanted) if wanted else b""
        if wanted and not chunk:
            raise ValueError("the source ended before the size announced for the upload")
        self._remaining -= len(chunk)
        return chunk


def _resumable(error: errors.MicrosoftError) -> bool:
    """A fragment worth sending again once the session says where it stands (a full drive is not)."""
    if isinstance(error, errors.QuotaExceeded):
        return False
    return isinstance(error, errors.TransientError) or error.status == 416


def _wait_for(error: errors.MicrosoftError, budget: float) -> float:
    """Wait out a ``Retry-After`` the caller can afford; raise the error when it cannot."""
    if error.retry_after is None:
        return 0.0  # a dropped connection or a 416: ask the session where it stands at once
    if error.retry_after > budget:
        raise error
    time.sleep(error.retry_after)
    return error.retry_after


def _resume_offset(session: UploadSession) -> int | None:
    current = upload_session_status(session=session)
    if current is None:
        raise errors.UploadSessionGone(
            "The upload session ended (it expired, or its last fragment made the file).", error="itemNotFound"
        )
    return current.next_offset


def _gone(error: errors.MicrosoftError) -> errors.UploadSessionGone:
    return errors.UploadSessionGone(
        "The upload session ended (it expired, or its last fragment made the file).",
        error=error.error,
        status=error.status,
        correlation_id=error.correlation_id,
    )


def file_upload(
    *,
    token: str,
    folder_path: str,
    name: str,
    source: BinaryIO,
    size: int,
    conflict: Conflict = Conflict.RENAME,
    resume: UploadSession | None = None,
    on_session: Callable[[UploadSession], None] | None = None,
    fragment_size: int = FRAGMENT_SIZE,
    wait_up_to: float = 0.0,
    drive: str = ME,
) -> DriveItem:
    """Upload ``size`` bytes of ``source`` (seekable) as ``name`` into the existing folder ``folder_path``; the
    file as stored (under RENAME its name may be "name 1.pdf").

    ``on_session`` receives the upload's `UploadSession` before any byte is sent: keep it (``as_json()``) and pass
    it back as ``resume`` when the upload is attempted again. With ``resume``, an unfinished session goes on where
    it stopped; a finished or gone one is looked for in the folder first (`uploaded_find`), so nothing is uploaded
    twice. Only when the file is not there does a new upload start.
    """
    if resume is not None:
        resumed = _resume(token, folder_path, name, source, size, resume, fragment_size, wait_up_to, drive)
        if resumed is not None:
            return resumed
    if size <= SIMPLE_UPLOAD_MAX:
        attempt = UploadSession(started_at=datetime.now(UTC))
        if on_session:
            on_session(attempt)
        source.seek(0)
        return file_upload_simple(
            token=token,
            folder_path=folder_path,
            name=name,
            content=source.read(size),
            conflict=conflict,
            drive=drive,
            wait_up_to=wait_up_to,
        )
    session = upload_session_create(
        token=token,
        folder_path=folder_path,
        name=name,
        conflict=conflict,
        size=size,
        drive=drive,
        wait_up_to=wait_up_to,
    )
    if on_session:
        on_session(session)
    try:
        return upload_session_send(
            session=session, source=source, size=size, fragment_size=fragment_size, wait_up_to=wait_up_to
        )
    except errors.UploadSessionGone:
        since = session.started_at
        found = uploaded_find(
            token=token, folder_path=folder_path, name=name, source=source, size=size, since=since, drive=drive
        )
        if found is None:
            raise
        return found


def _resume(
    token: str,
    folder_path: str,
    name: str,
    source: BinaryIO,
    size: int,
    previous: UploadSession,
    fragment_size: int,
    wait_up_to: float,
    drive: str,
) -> DriveItem | None:
    """The file of an earlier attempt: finished now, or found already finished; None to start again."""
    current = upload_session_status(session=previous)
    if current is not None and current.next_offset is not None:
        try:
            return upload_session_send(
                session=current, source=source, size=size, fragment_size=fragment_size, wait_up_to=wait_up_to
            )
        except errors.UploadSessionGone:
            pass
    if current is not None:  # every byte arrived but no file was made (a 409 under FAIL): start over
        upload_session_cancel(session=current)
    return uploaded_find(
        token=token,
        folder_path=folder_path,
        name=name,
        source=source,
        size=size,
        since=previous.started_at,
        drive=drive,
    )


def uploaded_find(
    *,
    token: str,
    folder_path: str,
    name: str,
    source: BinaryIO,
    size: int,
    since: datetime,
    drive: str = ME,
) -> DriveItem | None:
    """A file of this upload already in the folder: named ``name`` or "name N.ext" (a rename), created since
    ``since``, with the size and QuickXorHash of ``source``. Lists the folder (search lags behind uploads)."""
    expected_hash: str | None = None
    pattern = _names_like(name)
    next_link: str | None = None
    while True:
        page = children_page(token=token, folder_path=folder_path, next_link=next_link, drive=drive)
        for item in page.items:
            if item.is_folder or item.size != size or not pattern.match(item.name):
                continue
            if item.created is not None and item.created < since - CLOCK_SKEW:
                continue
            if expected_hash is None:
                source.seek(0)
                expected_hash = quick_xor_hash(source)
            if item.quick_xor_hash == expected_hash:
                return item
        if page.next_link is None:
            return None
        next_link = page.next_link


def _names_like(name: str) -> re.Pattern[str]:
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        return re.compile(rf"^{re.escape(name)}( \d+)?$", re.IGNORECASE)
    return re.compile(rf"^{re.escape(stem)}( \d+)?\.{re.escape(extension)}$", re.IGNORECASE)


# --- names and hashes ---------------------------------------------------------------------------------------------


def safe_file_name(name: str, *, fallback: str = "Document") -> str:
    """``name`` as OneDrive accepts it: forbidden characters (``" * : < > ? / \\ |``, control characters) become
    ``_``, no leading or trailing spaces or trailing dots, no reserved names, at most 200 characters (the
    extension kept)."""
    cleaned = _FORBIDDEN.sub("_", name).strip().rstrip(".").strip()
    if cleaned.startswith("~$"):
        cleaned = "_" + cleaned[1:]
    cleaned = re.sub("_vti_", "_vti-", cleaned, flags=re.IGNORECASE)
    stem, dot, extension = cleaned.rpartition(".")
    if not cleaned or cleaned.lower() in _RESERVED or (dot and stem.lower() in _RESERVED):
        cleaned = f"{fallback} {cleaned}".strip() if cleaned else fallback
    if len(cleaned) > _NAME_LIMIT:
        stem, dot, extension = cleaned.rpartition(".")
        keep = extension if dot and len(extension) <= 16 else ""
        cleaned = cleaned[: _NAME_LIMIT - len(keep) - 1].rstrip(". ") + (f".{keep}" if keep else "")
    return cleaned


def quick_xor_hash(source: BinaryIO) -> str:
    """OneDrive's QuickXorHash (base64) of ``source`` from its current position to the end, read in blocks.

    Byte ``i`` is XORed into a 160-bit vector at bit ``11 * i mod 160`` and the length into its last 64 bits.
    The shift repeats every 160 bytes, so blocks that are a multiple of 160 bytes are XORed together as integers
    and folded to 160 bytes before the shifts are applied: a 20 MB file takes milliseconds, not seconds.
    """
    accumulated, length = 0, 0
    while block := source.read(_QX_BLOCK):
        length += len(block)
        accumulated ^= int.from_bytes(block, "little")
    folded = accumulated.to_bytes(_QX_BLOCK, "little")
    while len(folded) > _QX_WIDTH:
        half = len(folded) // 2
        folded = (int.from_bytes(folded[:half], "little") ^ int.from_bytes(folded[half:], "little")).to_bytes(
            half, "little"
        )
    vector, mask = 0, (1 << _QX_WIDTH) - 1
    for index, byte in enumerate(folded):
        shift = index * 11 % _QX_WIDTH
        vector ^= ((byte << shift) | (byte >> (_QX_WIDTH - shift))) & mask
    digest = bytearray(vector.to_bytes(20, "little"))
    for index, byte in enumerate(length.to_bytes(8, "little")):
        digest[12 + index] ^= byte
    return base64.b64encode(bytes(digest)).decode()
