"""OneDrive through Graph: drives, driveItems, downloads by redirect, simple uploads and upload sessions.

Addressing (``{drive}`` is ``/me/drive``, ``/users/{id or UPN}/drive`` or ``/drives/{drive-id}``)::

    GET    {drive}                                       the drive (owner, quota)
    GET    {drive}/root | /items/{id} | /root:/a/b.pdf[:]  an item ($select; @microsoft.graph.downloadUrl on files)
    GET    {drive}/.../children                          a folder's items, paged ($top, $orderby, $select, $skiptoken)
    POST   {drive}/.../children                          a folder: {"name", "folder": {}} (+ conflictBehavior)
    GET    {drive}/.../search(q='text')                  items below whose name contains the text (also {drive}/search)
    GET    {drive}/.../content                           302 Found to a pre-authenticated, short-lived download URL
    PUT    {drive}/items/{parent}:/{name}:/content       simple upload (new or replaced; conflictBehavior in the query)
    PUT    {drive}/items/{id}/content                    new content for an existing file
    PATCH  {drive}/items/{id}                            rename and move: {"name", "parentReference": {"id" | "path"}}
    DELETE {drive}/items/{id}                            into the recycle bin (204)
    POST   {drive}/.../{parent}:/{name}:/createUploadSession   {"item": {"@microsoft.graph.conflictBehavior"}}

The upload URL (``/onedrive/up/{secret}``) and the download URL (``/onedrive/download/{token}``) are not Graph:
they carry their own credential and refuse or ignore a bearer token. Fragments are PUT in order with
``Content-Range: bytes {start}-{end}/{total}``, each a multiple of 320 KiB except the last and under 60 MiB;
a fragment that overlaps received bytes or leaves a gap is 416. Every fragment extends the session by 15 minutes
(on the emulator clock); an expired, cancelled or committed session is 404 ``itemNotFound``. The last fragment
commits the file (201 new, 200 replaced), resolving a name taken meanwhile by the session's conflictBehavior
(``fail`` is 409 ``nameAlreadyExists``, ``rename`` gives "name 1.pdf").

Delegated callers reach only their own drive (another user's is 403 ``accessDenied``); app-only callers any drive
of their directory. Permissions (any one): read ``Files.Read``, ``Files.ReadWrite``, ``Files.Read(Write).All``,
``Sites.Read(Write).All`` (app-only: the ``.All`` ones); write ``Files.ReadWrite``, ``Files.ReadWrite.All``,
``Sites.ReadWrite.All`` (app-only: ``Files.ReadWrite.All``, ``Sites.ReadWrite.All``); createUploadSession app-only
only ``Sites.ReadWrite.All``, as Microsoft documents it.

References:
- driveItem https://learn.microsoft.com/graph/api/resources/driveitem
- Get a drive https://learn.microsoft.com/graph/api/drive-get
- Get a driveItem (by id, by path) https://learn.microsoft.com/graph/api/driveitem-get
- List children https://learn.microsoft.com/graph/api/driveitem-list-children
- Search https://learn.microsoft.com/graph/api/driveitem-search
- Download driveItem content (302, Range) https://learn.microsoft.com/graph/api/driveitem-get-content
- Create folder https://learn.microsoft.com/graph/api/driveitem-post-children
- Move / rename (update) https://learn.microsoft.com/graph/api/driveitem-move
- Delete https://learn.microsoft.com/graph/api/driveitem-delete
- Simple upload https://learn.microsoft.com/graph/api/driveitem-put-content
- Upload large files with an upload session https://learn.microsoft.com/graph/api/driveitem-createuploadsession
- conflictBehavior https://learn.microsoft.com/graph/api/resources/driveitem#instance-attributes
"""

from __future__ import annotations

import functools
import inspect
import json
import mimetypes
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from m365_emulator.graph.base import (
    GraphError,
    GraphRequest,
    Permissions,
    TokenInvalid,
    TokenStale,
    bad_request,
    graph_error_response,
    graph_route,
    not_found,
    token_decode,
    token_encode,
)
from m365_emulator.graph.directory_store import directory_store
from m365_emulator.graph.onedrive_store import (
    CONFLICT_BEHAVIORS,
    DOWNLOAD_URL_SECONDS,
    FAIL,
    REPLACE,
    UPLOAD_SESSION_IDLE_SECONDS,
    Actor,
    Drive,
    Item,
    OneDriveStore,
    UploadSession,
    access_denied,
    invalid_request,
    iso,
    item_not_found,
    onedrive_store,
    precondition_failed,
)
from m365_emulator.responses import emulator_state
from m365_emulator.seed import User
from m365_emulator.state import State

_ALL_READ = ("Files.Read.All", "Files.ReadWrite.All", "Sites.Read.All", "Sites.ReadWrite.All")
FILES_READ = Permissions.of(application=_ALL_READ, delegated=("Files.Read", "Files.ReadWrite", *_ALL_READ))
FILES_WRITE = Permissions.of(
    application=("Files.ReadWrite.All", "Sites.ReadWrite.All"),
    delegated=("Files.ReadWrite", "Files.ReadWrite.All", "Sites.ReadWrite.All"),
)
DRIVE_READ = FILES_READ | Permissions.of(delegated=("User.Read",))
UPLOAD_SESSION_CREATE = Permissions.of(application=("Sites.ReadWrite.All",), delegated=FILES_WRITE.delegated)

UPLOAD_PATH, DOWNLOAD_PATH = "/onedrive/up", "/onedrive/download"
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 200, 999
SIMPLE_UPLOAD_LIMIT = 250 * 1024 * 1024
FRAGMENT_UNIT = 320 * 1024
MAX_FRAGMENT = 60 * 1024 * 1024
CONFLICT_ANNOTATION = "@microsoft.graph.conflictBehavior"
DOWNLOAD_URL = "@microsoft.graph.downloadUrl"
ITEM_PROPERTIES = (
    "id",
    "name",
    "size",
    "eTag",
    "cTag",
    "createdBy",
    "createdDateTime",
    "lastModifiedBy",
    "lastModifiedDateTime",
    "parentReference",
    "webUrl",
    "file",
    "folder",
    "fileSystemInfo",
    "root",
    "searchResult",
    DOWNLOAD_URL,
)
ORDERABLE = {"name": "name", "size": "size", "lastmodifieddatetime": "modified", "createddatetime": "created"}
_ADDRESS = re.compile(r"^/(?:(?P<root>root)|items/(?P<id>[^/:]+))(?::(?P<path>[^:]*):?)?(?P<action>/.*)?$")
_SEARCH = re.compile(r"^/search\(q='(?P<q>(?:[^']|'')*)'\)$")
_CONTENT_RANGE = re.compile(r"^bytes (?P<start>\d+)-(?P<end>\d+)/(?P<total>\d+)$")
_NOT_ON_LISTS = ("$filter", "$skip", "$search", "$count", "$expand")


# --- which drive, who is asking -------------------------------------------------------------------------------


@dataclass(frozen=True)
class View:
    """What rendering a driveItem needs: the drive, and the host the client called (for download URLs)."""

    state: State
    store: OneDriveStore
    drive: Drive
    origin: str


@dataclass
class Target:
    """The drive a request addresses, and who is asking."""

    req: GraphRequest
    store: OneDriveStore
    drive: Drive

    @property
    def view(self) -> View:
        return View(self.req.state, self.store, self.drive, _origin(self.req.request))

    @property
    def actor(self) -> Actor:
        caller = self.req.caller
        user = self.req.state.users.get(caller.user_id or "")
        if user is None:
            return Actor(None, None, None, caller.app_id)
        return Actor(user.object_id, user.display_name, user.mail, caller.app_id)


def _require(req: GraphRequest, permissions: Permissions) -> None:
    if not req.caller.holds(permissions):
        raise access_denied()


def _users_drive(req: GraphRequest, user: User) -> Drive:
    if user.directory != req.caller.tenant_id:
        raise item_not_found()
    if not req.caller.app_only and req.caller.user_id != user.object_id:
        raise access_denied()  # a delegated token reaches the signed-in user's own files only
    return onedrive_store(req.state).drive_for(user)


def _me(req: GraphRequest) -> Drive:
    if req.caller.app_only:
        raise bad_request("/me request is only valid with delegated authentication flow.")
    user = req.state.users.get(req.caller.user_id or "")
    if user is None:
        raise item_not_found()
    return _users_drive(req, user)


def _user(req: GraphRequest) -> Drive:
    reference = req.request.path_params["user"]
    store = directory_store(req.state)
    user = store.user(store.tenant(req.caller.tenant_id), reference)
    if user is None:
        raise not_found(reference)
    return _users_drive(req, user)


def _by_id(req: GraphRequest) -> Drive:
    drive = onedrive_store(req.state).drive_by_id(req.request.path_params["drive_id"])
    if drive is None or drive.tenant_id != req.caller.tenant_id:
        raise item_not_found()
    return _users_drive(req, drive.owner)


def _drive_endpoint(locate: Callable[[GraphRequest], Drive]) -> Callable[[GraphRequest], Any]:
    async def handler(req: GraphRequest) -> Response:
        target = Target(req, onedrive_store(req.state), locate(req))
        rest = req.request.path_params.get("rest", "")
        if rest in ("", "/"):
            if req.request.method != "GET":
                raise bad_request("The method is not supported on a drive.")
            return _drive_get(target)
        return await _dispatch(target, rest)

    return handler


# --- addressing inside a drive ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    base: Item  # the item named by /root or /items/{id}
    path: str | None  # the :/relative/path: after it, when given
    action: str  # "", "children", "content", "createUploadSession", "search"
    query: str | None = None  # search(q='...')


def _parse(target: Target, rest: str) -> Address:
    drive_search = _SEARCH.match(_unprefixed(rest))
    if drive_search:
        return Address(target.store.root_of(target.drive), None, "search", _search_text(drive_search))
    match = _ADDRESS.match(rest)
    if match is None:
        raise bad_request(f"Resource not found for the segment '{rest.strip('/').split('/')[0]}'.")
    base = target.store.item(target.drive, match["id"] or "root")
    action, query = _unprefixed(match["action"] or ""), None
    search = _SEARCH.match(action)
    if search:
        action, query = "/search", _search_text(search)
    if action not in ("", "/children", "/content", "/createUploadSession", "/search"):
        raise bad_request(f"Resource not found for the segment '{action.strip('/')}'.")
    return Address(base, match["path"], action.lstrip("/"), query)


def _unprefixed(action: str) -> str:
    return action.replace("/microsoft.graph.", "/", 1)


def _search_text(match: re.Match[str]) -> str:
    return match["q"].replace("''", "'")


def _resolved(target: Target, address: Address) -> Item:
    if not address.path:
        return address.base
    return target.store.resolve(target.drive, address.base, address.path)


def _parent_and_name(target: Target, address: Address) -> tuple[Item, str]:
    """For writes by path: the folder that must exist, and the last name (which may not exist yet)."""
    parts = [part for part in (address.path or "").split("/") if part]
    if not parts:
        raise invalid_request("A file name is required.")
    parent = target.store.resolve(target.drive, address.base, "/".join(parts[:-1]))
    if not parent.is_folder:
        raise item_not_found()
    return parent, parts[-1]


async def _dispatch(target: Target, rest: str) -> Response:
    address = _parse(target, rest)
    method = target.req.request.method
    handlers: dict[tuple[str, str], Callable[[Target, Address], Any]] = {
        ("GET", ""): _item_get,
        ("PATCH", ""): _item_update,
        ("DELETE", ""): _item_delete,
        ("GET", "children"): _children,
        ("POST", "children"): _folder_create,
        ("GET", "search"): _search,
        ("GET", "content"): _content_redirect,
        ("PUT", "content"): _content_put,
        ("POST", "createUploadSession"): _session_create,
    }
    handler = handlers.get((method, address.action))
    if handler is None:
        raise bad_request(f"The method {method} is not supported on this resource.")
    result = handler(target, address)
    return await result if inspect.isawaitable(result) else result


# --- JSON -----------------------------------------------------------------------------------------------------


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _personal_url(view: View) -> str:
    owner = view.drive.owner
    directory = view.state.directories[owner.directory]
    label = next((d for d in directory.domains if d.endswith(".onmicrosoft.com")), directory.primary_domain)
    mangled = re.sub(r"[^a-z0-9]", "_", owner.upn.lower())
    return f"https://{label.split('.')[0]}-my.sharepoint.com/personal/{mangled}"


def _web_url(view: View, item: Item) -> str:
    return _personal_url(view) + "/Documents" + quote(view.store.path_of(item).rstrip("/"))


def download_url(view: View, item: Item) -> str:
    payload = {"d": view.drive.id, "i": item.id, "c": item.content_version}
    token = token_encode(view.state, {**payload, "e": view.state.now() + DOWNLOAD_URL_SECONDS})
    return f"{view.origin}{DOWNLOAD_PATH}/{token}"


def _parent_reference(view: View, item: Item) -> dict[str, Any]:
    reference: dict[str, Any] = {"driveType": "business", "driveId": view.drive.id}
    parent = view.store.items.get(item.parent_id or "")
    if parent is not None:
        path = view.store.path_of(parent)
        reference["id"] = parent.id
        reference["name"] = parent.name
        # itemReference.path is "percent-encoded" (Microsoft's resource page).
        reference["path"] = f"/drives/{view.drive.id}/root:" + ("" if path == "/" else quote(path))
    return reference


def item_json(view: View, item: Item, select: Sequence[str] | None = None) -> dict[str, Any]:
    """A driveItem as OneDrive for Business renders it; ``select`` keeps only those properties."""
    body: dict[str, Any] = {}
    if not item.is_folder:
        body[DOWNLOAD_URL] = download_url(view, item)
    body |= {
        "createdBy": item.created_by.as_json(),
        "createdDateTime": iso(item.created),
        "eTag": item.etag,
        "id": item.id,
        "lastModifiedBy": item.modified_by.as_json(),
        "lastModifiedDateTime": iso(item.modified),
        "name": item.name,
        "parentReference": _parent_reference(view, item),
        "webUrl": _web_url(view, item),
        "cTag": item.ctag,
        "fileSystemInfo": {"createdDateTime": iso(item.created), "lastModifiedDateTime": iso(item.modified)},
        "size": view.store.folder_size(item) if item.is_folder else item.size,
    }
    if item.is_folder:
        body["folder"] = {"childCount": len(item.children)}
    elif item.content is not None:
        mime = mimetypes.guess_type(item.name)[0] or "application/octet-stream"
        body["file"] = {"mimeType": mime, "hashes": {"quickXorHash": item.content.quick_xor}}
    if item.parent_id is None:
        body["root"] = {}
    if select is not None:
        body = {key: value for key, value in body.items() if key in select}
    return body


def _entity(target: Target, item: Item, status: int = 200, select: Sequence[str] | None = None) -> Response:
    return target.req.entity(f"drives('{target.drive.id}')/items", item_json(target.view, item, select), status)


def _drive_get(target: Target) -> Response:
    _require(target.req, DRIVE_READ)
    store, drive, owner = target.store, target.drive, target.drive.owner
    root = store.root_of(drive)
    used = store.used(drive)
    deleted = sum(store.items[i].size for i in drive.recycle_bin)
    body = {
        "@odata.context": target.req.context("drives/$entity"),
        "createdDateTime": iso(root.created),
        "description": "",
        "id": drive.id,
        "lastModifiedDateTime": iso(root.modified),
        "name": "OneDrive",
        "webUrl": _personal_url(target.view) + "/Documents",
        "driveType": "business",
        "createdBy": {"user": {"displayName": "System Account"}},
        "owner": {"user": {"email": owner.mail, "id": owner.object_id, "displayName": owner.display_name}},
        "quota": {
            "deleted": deleted,
            "remaining": max(drive.quota_total - used, 0),
            "state": "normal" if used < drive.quota_total * 0.9 else "nearing",
            "total": drive.quota_total,
            "used": used,
        },
    }
    return target.req.json(body)


# --- reading --------------------------------------------------------------------------------------------------


def _item_get(target: Target, address: Address) -> Response:
    _require(target.req, FILES_READ)
    select = target.req.select(ITEM_PROPERTIES, "driveItem")
    return _entity(target, _resolved(target, address), select=select)


def _children(target: Target, address: Address) -> Response:
    _require(target.req, FILES_READ)
    folder = _resolved(target, address)
    children = target.store.children(folder) if folder.is_folder else []
    return _page(target, children, f"items('{folder.id}')/children", {})


def _search(target: Target, address: Address) -> Response:
    _require(target.req, FILES_READ)
    text = (address.query or "").strip().lower()
    if not text:
        raise invalid_request("The search text is empty.")
    folder = _resolved(target, address)
    found = [item for item in target.store.descendants(folder) if text in item.name.lower()]
    return _page(target, found, "Collection(driveItem)", {"searchResult": {}})


def _order(req: GraphRequest) -> list[tuple[str, bool]]:
    """``$orderby`` as (attribute, descending) pairs; by name when absent."""
    raw = req.param("$orderby")
    if raw is None:
        return [("name", False)]
    order = []
    for part in raw.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise invalid_request(f"Invalid $orderby expression '{raw}'.")
        attribute = ORDERABLE.get(words[0].lower())
        if attribute is None:
            raise invalid_request(f"The property '{words[0]}' cannot be used in $orderby.")
        order.append((attribute, len(words) == 2 and words[1].lower() == "desc"))
    return order


def _sort_values(target: Target, item: Item, order: list[tuple[str, bool]]) -> list[Any]:
    values: list[Any] = []
    for attribute, _ in order:
        if attribute == "name":
            values.append(item.name.lower())
        elif attribute == "size":
            values.append(target.store.folder_size(item) if item.is_folder else item.size)
        else:
            values.append(getattr(item, attribute))
    return [*values, item.id]


def _compare(left: list[Any], right: list[Any], order: list[tuple[str, bool]]) -> int:
    directions = [descending for _, descending in order] + [False]
    for a, b, descending in zip(left, right, directions, strict=True):
        if a != b:
            return (1 if a > b else -1) * (-1 if descending else 1)
    return 0


def _page(target: Target, items: list[Item], context: str, extra: dict[str, Any]) -> Response:
    """One page in ``$orderby`` order; ``$skiptoken`` carries the last key shown, so changes between pages shift
    nothing."""
    req = target.req
    req.reject_options(_NOT_ON_LISTS, "driveItem collections")
    select = req.select(ITEM_PROPERTIES, "driveItem")
    top = req.top(DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    order = _order(req)
    keyed: list[tuple[list[Any], Item]] = [(_sort_values(target, item, order), item) for item in items]

    def compare(left: tuple[list[Any], Item], right: tuple[list[Any], Item]) -> int:
        return _compare(left[0], right[0], order)

    keyed.sort(key=functools.cmp_to_key(compare))
    after = _skip_after(req)
    if after is not None:
        keyed = [(key, item) for key, item in keyed if _compare(key, after, order) > 0]
    shown = keyed[:top]
    next_link = None
    if len(keyed) > top:
        token = token_encode(req.state, {"k": shown[-1][0], "o": order, "p": req.path})
        query = {name: value for name, value in req.request.query_params.items() if name.lstrip("$") != "skiptoken"}
        next_link = req.link(req.path, {**query, "$skiptoken": token})
    view = target.view
    values = [{**item_json(view, item, select), **({} if select else extra)} for _, item in shown]
    return req.page(context=req.context(context), items=values, next_link=next_link)


def _skip_after(req: GraphRequest) -> list[Any] | None:
    raw = req.param("$skiptoken")
    if raw is None:
        return None
    try:
        payload = token_decode(req.state, raw)
    except (TokenInvalid, TokenStale, ValueError):
        raise invalid_request("The skip token is not valid.") from None
    if payload.get("p") != req.path or payload.get("o") != [list(o) for o in _order(req)]:
        raise invalid_request("The skip token is not valid for this request.")
    key: list[Any] = payload["k"]
    return key


def _content_redirect(target: Target, address: Address) -> Response:
    _require(target.req, FILES_READ)
    item = _resolved(target, address)
    if item.is_folder:
        raise item_not_found()  # only items with the file facet have content
    return Response(status_code=302, headers=target.req.headers({"Location": download_url(target.view, item)}))


# --- writing --------------------------------------------------------------------------------------------------


def _conflict(value: Any, default: str) -> str:
    if value is None:
        return default
    if value not in CONFLICT_BEHAVIORS:
        raise invalid_request(f"Invalid value '{value}' for {CONFLICT_ANNOTATION}.")
    return str(value)


def _check_if_match(target: Target, item: Item) -> None:
    wanted = target.req.request.headers.get("if-match")
    if wanted and wanted.strip() not in ("*", item.etag, item.ctag):
        raise precondition_failed()


async def _json_body(req: GraphRequest) -> dict[str, Any]:
    raw = await req.request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise bad_request("Unable to read JSON request payload.") from None
    if not isinstance(body, dict):
        raise bad_request("Unable to read JSON request payload.")
    return body


async def _folder_create(target: Target, address: Address) -> Response:
    _require(target.req, FILES_WRITE)
    parent = _resolved(target, address)
    body = await _json_body(target.req)
    if "folder" not in body:
        raise invalid_request("A folder facet is required to create an item without content.")
    conflict = _conflict(body.get(CONFLICT_ANNOTATION, target.req.param(CONFLICT_ANNOTATION)), FAIL)
    name = str(body.get("name") or "")
    folder, created = target.store.create_folder(target.drive, parent, name, conflict, target.actor)
    return _entity(target, folder, 201 if created else 200)


async def _item_update(target: Target, address: Address) -> Response:
    _require(target.req, FILES_WRITE)
    item = _resolved(target, address)
    _check_if_match(target, item)
    body = await _json_body(target.req)
    parent = None
    reference = body.get("parentReference")
    if isinstance(reference, dict):
        parent = _reference_folder(target, reference)
    name = str(body["name"]) if body.get("name") is not None else None
    conflict = _conflict(target.req.param(CONFLICT_ANNOTATION) or body.get(CONFLICT_ANNOTATION), FAIL)
    moved = target.store.move(item, name=name, parent=parent, conflict=conflict, by=target.actor)
    return _entity(target, moved)


def _reference_folder(target: Target, reference: dict[str, Any]) -> Item:
    if reference.get("driveId") not in (None, target.drive.id):
        raise invalid_request("Moving items between drives is not supported.")
    if reference.get("id"):
        return target.store.item(target.drive, str(reference["id"]))
    path = str(reference.get("path") or "")
    _, found, relative = path.partition("root:")
    if not found:
        raise invalid_request("parentReference needs an id or a path.")
    return target.store.resolve(target.drive, target.store.root_of(target.drive), relative)


def _item_delete(target: Target, address: Address) -> Response:
    _require(target.req, FILES_WRITE)
    item = _resolved(target, address)
    _check_if_match(target, item)
    target.store.delete(item, target.actor)
    return Response(status_code=204, headers=target.req.headers())


async def _content_put(target: Target, address: Address) -> Response:
    _require(target.req, FILES_WRITE)
    declared = target.req.request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > SIMPLE_UPLOAD_LIMIT:
        raise GraphError(413, "requestTooLarge", "Too large for a simple upload: use an upload session.")
    conflict = _conflict(target.req.param(CONFLICT_ANNOTATION), REPLACE)
    existing = _existing(target, address)
    if existing is not None:
        _check_if_match(target, existing)
    incoming = target.store.incoming_path()
    try:
        await _receive(target.req.request, incoming, 0, SIMPLE_UPLOAD_LIMIT)
        if address.path:
            parent, name = _parent_and_name(target, address)
            item, created = target.store.put_file(target.drive, parent, name, incoming, conflict, target.actor)
        elif existing is not None and not existing.is_folder:
            item, created = target.store.replace_content(target.drive, existing, incoming, target.actor), False
        else:
            raise invalid_request("Content can only be written to a file.")
    finally:
        incoming.unlink(missing_ok=True)
    return _entity(target, item, 201 if created else 200)


def _existing(target: Target, address: Address) -> Item | None:
    try:
        return _resolved(target, address)
    except GraphError:
        return None


async def _session_create(target: Target, address: Address) -> Response:
    _require(target.req, UPLOAD_SESSION_CREATE)
    body = await _json_body(target.req)
    properties: dict[str, Any] = body["item"] if isinstance(body.get("item"), dict) else {}
    conflict = _conflict(properties.get(CONFLICT_ANNOTATION), FAIL)
    declared = properties.get("fileSize")
    if address.path:
        folder, name = _parent_and_name(target, address)
        if properties.get("name") not in (None, name):
            raise invalid_request("The name in the request body must match the name in the path.")
        existing = target.store.child(folder, name)
        replacing = existing if existing is not None and conflict == REPLACE and not existing.is_folder else None
    else:
        replacing = address.base
        if replacing.is_folder:
            raise invalid_request("An upload session needs a file name below the folder.")
        folder, name = target.store.items[replacing.parent_id or ""], replacing.name
    session = target.store.session_create(
        target.drive,
        folder,
        name,
        conflict=conflict,
        defer_commit=bool(body.get("deferCommit")),
        by=target.actor,
        target=replacing,
        declared_size=int(declared) if isinstance(declared, int) else None,
    )
    answer = {
        "@odata.context": target.req.context("microsoft.graph.uploadSession"),
        "uploadUrl": f"{target.view.origin}{UPLOAD_PATH}/{session.token}",
        "expirationDateTime": iso(session.expires),
        "nextExpectedRanges": session.next_expected_ranges(),
    }
    return target.req.json(answer)


async def _receive(request: Request, path: Path, offset: int, limit: int) -> int:
    """Stream the request body into ``path`` from ``offset``; the bytes written. On any failure the file is cut
    back to ``offset``: a request that did not arrive whole counts for nothing."""
    written = 0
    mode = "r+b" if path.exists() else "wb"
    with path.open(mode) as target:
        target.seek(offset)
        try:
            async for chunk in _body(request):
                written += len(chunk)
                if written > limit:
                    raise GraphError(413, "requestTooLarge", "The request body is larger than allowed.")
                target.write(chunk)
        except BaseException:
            target.truncate(offset)
            raise
        target.truncate(offset + written)
    return written


async def _body(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk


# --- the upload URL (no bearer token) ---------------------------------------------------------------------------


def _session_status(session: UploadSession) -> dict[str, Any]:
    return {"expirationDateTime": iso(session.expires), "nextExpectedRanges": session.next_expected_ranges()}


def _upload_error(request: Request, error: GraphError) -> Response:
    return graph_error_response(request, error)


def _session_of(request: Request) -> tuple[OneDriveStore, UploadSession]:
    if "authorization" in request.headers:
        # Microsoft: "Only send the Authorization header ... when issuing the POST ... Don't include it when you
        # issue the PUT call." The URL is its own credential; a token sent here is a token leaked.
        raise GraphError(401, "unauthenticated", "The upload URL must be called without an Authorization header.")
    store = onedrive_store(emulator_state(request))
    return store, store.session(request.path_params["token"])


def _fragment_range(request: Request, session: UploadSession) -> tuple[int, int, int]:
    match = _CONTENT_RANGE.match(request.headers.get("content-range", "").strip())
    if match is None:
        raise invalid_request("The Content-Range header is missing or malformed (bytes {start}-{end}/{total}).")
    start, end, total = int(match["start"]), int(match["end"]), int(match["total"])
    length = end - start + 1
    if end < start or end >= total:
        raise invalid_request("The Content-Range header names bytes outside the file.")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) != length):
        raise invalid_request("Content-Length does not match the Content-Range header.")
    if length > MAX_FRAGMENT:
        raise GraphError(413, "requestTooLarge", "A fragment must be smaller than 60 MiB.")
    if session.total is not None and total != session.total:
        raise invalid_request("The total size in Content-Range differs from the earlier fragments.")
    if session.receiving or start != session.received:
        what = "overlaps bytes already received" if start < session.received else "is not the next expected range"
        raise GraphError(416, "invalidRange", f"The fragment {what}; next expected: {session.received}-.")
    if end + 1 < total and length % FRAGMENT_UNIT:
        raise invalid_request("A fragment other than the last must be a multiple of 320 KiB (327,680 bytes).")
    return start, end, total


async def upload_put(request: Request) -> Response:
    try:
        store, session = _session_of(request)
        start, end, total = _fragment_range(request, session)
        session.receiving = True
        try:
            written = await _receive(request, session.path, start, end - start + 1)
        finally:
            session.receiving = False
        if written != end - start + 1:
            raise invalid_request("The body is shorter than its Content-Range.")
        session = store.session(session.token)  # still there after the wait (not cancelled meanwhile)
        session.total, session.received = total, end + 1
        session.expires = store.state.now() + UPLOAD_SESSION_IDLE_SECONDS
        if session.complete and not session.defer_commit:
            return _committed(request, store, session)
        return JSONResponse(_session_status(session), status_code=202)
    except ClientDisconnect:
        return Response(status_code=400)
    except GraphError as error:
        return _upload_error(request, error)


def _committed(request: Request, store: OneDriveStore, session: UploadSession) -> Response:
    item, created = store.session_commit(session)
    view = View(store.state, store, store.drives[item.drive_id], _origin(request))
    return JSONResponse(item_json(view, item), status_code=201 if created else 200)


async def upload_get(request: Request) -> Response:
    try:
        _, session = _session_of(request)
        return JSONResponse(_session_status(session))
    except GraphError as error:
        return _upload_error(request, error)


async def upload_delete(request: Request) -> Response:
    try:
        store, session = _session_of(request)
        store.session_discard(session)
        return Response(status_code=204)
    except GraphError as error:
        return _upload_error(request, error)


async def upload_commit(request: Request) -> Response:
    """``deferCommit``: an empty POST to the upload URL creates the file once every byte arrived."""
    try:
        store, session = _session_of(request)
        if not session.complete:
            raise invalid_request("The upload is not complete; see nextExpectedRanges.")
        return _committed(request, store, session)
    except GraphError as error:
        return _upload_error(request, error)


# --- the download URL (no bearer token) -----------------------------------------------------------------------


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """One ``bytes=a-b`` / ``a-`` / ``-n`` range as (start, end inclusive); None to send everything.

    Microsoft: "If the range can't be generated the Range header may be ignored"; several ranges are ignored here.
    """
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[len("bytes=") :].strip().partition("-")
    if not (first.isdigit() or last.isdigit()) or (first and not first.isdigit()) or (last and not last.isdigit()):
        return None
    if not first:
        length = int(last)
        return (max(size - length, 0), size - 1) if length and size else (size, size)
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    return start, end


async def _file_chunks(path: Path, start: int, end: int) -> AsyncIterator[bytes]:
    with path.open("rb") as source:
        source.seek(start)
        remaining = end - start + 1
        while remaining > 0:
            chunk = source.read(min(64 * 1024, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk


async def download(request: Request) -> Response:
    state = emulator_state(request)
    store = onedrive_store(state)
    try:
        payload = token_decode(state, request.path_params["token"])
    except (TokenInvalid, TokenStale, ValueError):
        return graph_error_response(request, item_not_found())
    if state.now() > float(payload.get("e", 0)):
        return graph_error_response(request, GraphError(401, "unauthenticated", "The download URL has expired."))
    item = store.items.get(str(payload.get("i")))
    if item is None or item.content is None or not store.live(item) or item.content_version != payload.get("c"):
        return graph_error_response(request, item_not_found())
    content = item.content
    mime = mimetypes.guess_type(item.name)[0] or "application/octet-stream"
    headers = {
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(item.name)}",
        "ETag": item.etag,
        "Accept-Ranges": "bytes",
    }
    chosen = _parse_range(request.headers.get("range"), content.size)
    if chosen is not None:
        start, end = chosen
        if start >= content.size or start > end:
            headers["Content-Range"] = f"bytes */{content.size}"
            return Response(status_code=416, headers=headers)
        headers |= {"Content-Range": f"bytes {start}-{end}/{content.size}", "Content-Length": str(end - start + 1)}
        return StreamingResponse(_file_chunks(content.path, start, end), 206, headers, media_type=mime)
    headers["Content-Length"] = str(content.size)
    return StreamingResponse(_file_chunks(content.path, 0, content.size - 1), 200, headers, media_type=mime)


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

routes = [
    graph_route("/me/drive", _drive_endpoint(_me), _METHODS),
    graph_route("/me/drive{rest:path}", _drive_endpoint(_me), _METHODS),
    graph_route("/users/{user}/drive", _drive_endpoint(_user), _METHODS),
    graph_route("/users/{user}/drive{rest:path}", _drive_endpoint(_user), _METHODS),
    graph_route("/drives/{drive_id}", _drive_endpoint(_by_id), _METHODS),
    graph_route("/drives/{drive_id}{rest:path}", _drive_endpoint(_by_id), _METHODS),
]

preauthenticated_routes = [
    Route(UPLOAD_PATH + "/{token}", upload_put, methods=["PUT"]),
    Route(UPLOAD_PATH + "/{token}", upload_get, methods=["GET"]),
    Route(UPLOAD_PATH + "/{token}", upload_delete, methods=["DELETE"]),
    Route(UPLOAD_PATH + "/{token}", upload_commit, methods=["POST"]),
    Route(DOWNLOAD_PATH + "/{token}", download, methods=["GET"]),
]
