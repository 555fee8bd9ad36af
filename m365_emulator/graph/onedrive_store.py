"""Each user's OneDrive in the emulator: folders, files whose bytes live on disk, the recycle bin, upload sessions.

A drive is made for a user the first time anyone looks at it (OneDrive for Business provisions on first use), with
the seed's folders and files when the seed lists some. File contents are files under ``<state-dir>/onedrive``,
written once and never changed: new content is a new file, so a download in flight keeps reading the version it
started with. The directory is emptied when the store is built again (after a reset).

Names are unique in a folder regardless of case; ``rename`` finds the next free "name 1.pdf" as OneDrive does.
Deleted items go to the drive's recycle bin (out of every lookup, kept for the control API).

References:
- driveItem https://learn.microsoft.com/graph/api/resources/driveitem
- drive https://learn.microsoft.com/graph/api/resources/drive
- conflictBehavior (fail, replace, rename) https://learn.microsoft.com/graph/api/resources/driveitem#instance-attributes
- itemReference (parentReference, its percent-encoded path) https://learn.microsoft.com/graph/api/resources/itemreference
- QuickXorHash https://learn.microsoft.com/onedrive/developer/code-snippets/quickxorhash
- invalid names https://support.microsoft.com/office/restrictions-and-limitations-in-onedrive-and-sharepoint-64883a5d-228e-48f5-b3d2-eb39e07630fa
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import shutil
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from m365_emulator.documents import filler_chunks, pdf_document
from m365_emulator.graph.base import GraphError, state_extension
from m365_emulator.seed import SeedDrive, SeedDriveItem, User
from m365_emulator.state import State

FAIL, REPLACE, RENAME = "fail", "replace", "rename"
CONFLICT_BEHAVIORS = (FAIL, REPLACE, RENAME)
DEFAULT_QUOTA = 1024**4  # 1 TiB, OneDrive for Business's default
UPLOAD_SESSION_IDLE_SECONDS = 15 * 60  # OneDrive for Business: 15 minutes, extended by every fragment
DOWNLOAD_URL_SECONDS = 5 * 60  # "valid for a short period of time (a few minutes)"
_QX_WIDTH = 160
_QX_MASK = (1 << _QX_WIDTH) - 1
_QX_BLOCK = 160 * 4096  # a multiple of 160 bytes (each byte's shift repeats every 160) and of a power of two
_READ_CHUNK = 1024 * 1024
_FORBIDDEN_CHARACTERS = set('"*:<>?/\\|')
_RESERVED_NAMES = {".lock", "con", "prn", "aux", "nul", "desktop.ini"}
_RESERVED_NAMES |= {f"{prefix}{n}" for prefix in ("com", "lpt") for n in "0123456789"}


# --- errors, as OneDrive words them ----------------------------------------------------------------------------


def item_not_found() -> GraphError:
    return GraphError(404, "itemNotFound", "The resource could not be found.")


def name_already_exists() -> GraphError:
    return GraphError(409, "nameAlreadyExists", "The specified item name already exists.")


def access_denied() -> GraphError:
    return GraphError(403, "accessDenied", "Access denied")


def invalid_request(message: str) -> GraphError:
    return GraphError(400, "invalidRequest", message)


def quota_reached() -> GraphError:
    return GraphError(507, "quotaLimitReached", "Insufficient Space Available")


def precondition_failed() -> GraphError:
    return GraphError(412, "preconditionFailed", "The resource has changed since the caller last read it.")


# --- contents on disk -------------------------------------------------------------------------------------------


def quick_xor_hash(path: Path) -> tuple[str, str]:
    """OneDrive's QuickXorHash (base64) and the SHA-256 (hex) of a file, read once in blocks.

    Byte ``i`` is XORed into a 160-bit vector at bit ``i * 11 mod 160``; that shift repeats every 160 bytes, so
    blocks (a multiple of 160 bytes) are XORed together as big integers and folded down to 160 bytes first.
    """
    sha = hashlib.sha256()
    accumulated, length = 0, 0
    with path.open("rb") as source:
        while block := source.read(_QX_BLOCK):
            sha.update(block)
            length += len(block)
            accumulated ^= int.from_bytes(block, "little")
    folded, size = accumulated.to_bytes(_QX_BLOCK, "little"), _QX_BLOCK
    while size > 160:
        size //= 2
        folded = (int.from_bytes(folded[:size], "little") ^ int.from_bytes(folded[size:], "little")).to_bytes(
            size, "little"
        )
    vector = 0
    for position, byte in enumerate(folded):
        shift = position * 11 % _QX_WIDTH
        vector ^= ((byte << shift) | (byte >> (_QX_WIDTH - shift))) & _QX_MASK
    digest = bytearray(vector.to_bytes(20, "little"))
    for index, byte in enumerate(length.to_bytes(8, "little")):
        digest[12 + index] ^= byte
    return base64.b64encode(bytes(digest)).decode(), sha.hexdigest()


@dataclass(frozen=True)
class Content:
    """One version of a file's bytes, in a file nobody writes again."""

    path: Path
    size: int
    quick_xor: str
    sha256: str

    @classmethod
    def of(cls, path: Path) -> Content:
        quick_xor, sha256 = quick_xor_hash(path)
        return cls(path, path.stat().st_size, quick_xor, sha256)


# --- drives and items -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who made a change: a user (with the app they used) or an app alone (``identitySet``)."""

    user_id: str | None
    user_name: str | None
    user_email: str | None
    app_id: str | None = None

    def as_json(self) -> dict[str, dict[str, str]]:
        identity: dict[str, dict[str, str]] = {}
        if self.app_id:
            identity["application"] = {"id": self.app_id}
        if self.user_id:
            identity["user"] = {"id": self.user_id, "displayName": self.user_name or "", "email": self.user_email or ""}
        return identity


@dataclass(eq=False)
class Item:
    id: str
    drive_id: str
    name: str
    parent_id: str | None  # None for the root
    is_folder: bool
    created: float
    modified: float
    created_by: Actor
    modified_by: Actor
    content: Content | None = None
    tag: str = field(default_factory=lambda: str(uuid.uuid4()).upper())
    version: int = 1  # eTag: any change
    content_version: int = 1  # cTag: a change of the content (or of a folder's children)
    children: dict[str, str] = field(default_factory=dict)  # lower-cased name -> id (folders)
    deleted_at: float | None = None

    @property
    def size(self) -> int:
        return self.content.size if self.content else 0

    @property
    def etag(self) -> str:
        return f'"{{{self.tag}}},{self.version}"'

    @property
    def ctag(self) -> str:
        return f'"c:{{{self.tag}}},{self.content_version}"'

    def touch(self, now: float, by: Actor, *, content: bool) -> None:
        self.modified, self.modified_by = now, by
        self.version += 1
        if content:
            self.content_version += 1


@dataclass(eq=False)
class Drive:
    id: str
    owner: User
    tenant_id: str
    root_id: str
    quota_total: int = DEFAULT_QUOTA
    recycle_bin: list[str] = field(default_factory=list)


@dataclass(eq=False)
class UploadSession:
    """Bytes received so far for a file that does not exist yet (or a new version of one)."""

    token: str
    drive_id: str
    parent_id: str
    name: str
    conflict: str
    defer_commit: bool
    actor: Actor
    path: Path
    created: float
    expires: float
    target_id: str | None = None  # an existing file this upload replaces
    total: int | None = None  # the file's size, fixed by the first fragment
    received: int = 0
    receiving: bool = False  # a fragment is being read right now
    declared_size: int | None = None

    @property
    def complete(self) -> bool:
        return self.total is not None and self.received == self.total

    def next_expected_ranges(self) -> list[str]:
        return [] if self.complete else [f"{self.received}-"]


def _new_item_id() -> str:
    # OneDrive for Business ids: "01" and 32 base32 characters.
    return "01" + base64.b32encode(secrets.token_bytes(20)).decode()


def _new_drive_id() -> str:
    return "b!" + base64.urlsafe_b64encode(secrets.token_bytes(48)).decode()


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def check_name(name: str) -> str:
    """A valid OneDrive name, or 400 ``invalidRequest`` as OneDrive answers it."""
    if not name or name != name.strip() or name.endswith(".") or len(name) > 400:
        raise invalid_request("The provided name is not valid.")
    if _FORBIDDEN_CHARACTERS & set(name) or any(ord(ch) < 32 for ch in name):
        raise invalid_request("The provided name cannot contain any illegal characters.")
    if name.lower() in _RESERVED_NAMES or name.startswith("~$") or "_vti_" in name.lower():
        raise invalid_request("The provided name is a reserved name.")
    return name


def numbered_name(name: str, number: int) -> str:
    """``report.pdf`` -> ``report 1.pdf``; ``Printed`` -> ``Printed 1``."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        return f"{name} {number}"
    return f"{stem} {number}.{extension}"


class OneDriveStore:
    def __init__(self, state: State) -> None:
        self.state = state
        self.lock = threading.RLock()
        self.root = Path(state.state_dir) / "onedrive"
        shutil.rmtree(self.root, ignore_errors=True)
        (self.root / "blobs").mkdir(parents=True)
        (self.root / "incoming").mkdir()
        self.drives: dict[str, Drive] = {}
        self.drive_of_user: dict[str, str] = {}
        self.items: dict[str, Item] = {}
        self.sessions: dict[str, UploadSession] = {}
        self.seeded: dict[str, SeedDrive] = {}
        for seed_drive in state.seed.drives:
            user = self._seed_owner(seed_drive.owner)
            if user is not None:
                self.seeded[user.object_id] = seed_drive

    def _seed_owner(self, reference: str) -> User | None:
        return self.state.user_by_reference(reference)

    # --- drives ---------------------------------------------------------------------------------------------

    def drive_for(self, user: User) -> Drive:
        """The user's drive, made (with the seed's items) on first use."""
        with self.lock:
            drive_id = self.drive_of_user.get(user.object_id)
            if drive_id is not None:
                return self.drives[drive_id]
            now = self.state.now()
            actor = Actor(user.object_id, user.display_name, user.mail)
            root = Item(_new_item_id(), "", "root", None, True, now, now, actor, actor)
            drive = Drive(_new_drive_id(), user, user.directory, root.id)
            root.drive_id = drive.id
            self.drives[drive.id] = drive
            self.drive_of_user[user.object_id] = drive.id
            self.items[root.id] = root
            seeded = self.seeded.get(user.object_id)
            if seeded is not None:
                self._seed(drive, seeded, actor)
            return drive

    def _seed(self, drive: Drive, seeded: SeedDrive, actor: Actor) -> None:
        if seeded.quota_bytes:
            drive.quota_total = seeded.quota_bytes
        for entry in seeded.items:
            parts = PurePosixPath(entry.path).parts[1:]
            folder = self.ensure_folders(drive, parts[:-1] if not entry.is_folder else parts, actor)
            if entry.is_folder:
                continue
            item, _ = self.put_file(drive, folder, parts[-1], self.write_incoming(_seed_bytes(entry)), REPLACE, actor)
            if entry.modified:
                item.created = item.modified = _epoch(entry.modified)

    def drive_by_id(self, drive_id: str) -> Drive | None:
        return self.drives.get(drive_id)

    def used(self, drive: Drive) -> int:
        return sum(i.size for i in self.items.values() if i.drive_id == drive.id)

    # --- lookups --------------------------------------------------------------------------------------------

    def root_of(self, drive: Drive) -> Item:
        return self.items[drive.root_id]

    def live(self, item: Item) -> bool:
        """Neither the item nor a folder above it is in the recycle bin."""
        current: Item | None = item
        while current is not None:
            if current.deleted_at is not None:
                return False
            current = self.items.get(current.parent_id) if current.parent_id else None
        return True

    def item(self, drive: Drive, item_id: str) -> Item:
        if item_id.lower() == "root":
            return self.root_of(drive)
        item = self.items.get(item_id)
        if item is None or item.drive_id != drive.id or not self.live(item):
            raise item_not_found()
        return item

    def child(self, folder: Item, name: str) -> Item | None:
        child_id = folder.children.get(name.lower())
        return self.items.get(child_id) if child_id else None

    def resolve(self, drive: Drive, base: Item, relative: str) -> Item:
        """``base`` then the ``/``-separated names of ``relative``; 404 ``itemNotFound`` when one is missing."""
        item = base
        for name in _segments(relative):
            if not item.is_folder:
                raise item_not_found()
            found = self.child(item, name)
            if found is None:
                raise item_not_found()
            item = found
        return item

    def children(self, folder: Item) -> list[Item]:
        return [self.items[i] for i in folder.children.values()]

    def descendants(self, folder: Item) -> Iterator[Item]:
        for child in self.children(folder):
            yield child
            if child.is_folder:
                yield from self.descendants(child)

    def folder_size(self, folder: Item) -> int:
        return sum(i.size for i in self.descendants(folder))

    def path_of(self, item: Item) -> str:
        """``/Documents/report.pdf`` (``/`` for the root)."""
        names: list[str] = []
        current: Item | None = item
        while current is not None and current.parent_id is not None:
            names.append(current.name)
            current = self.items.get(current.parent_id)
        return "/" + "/".join(reversed(names))

    # --- writes ---------------------------------------------------------------------------------------------

    def free_name(self, folder: Item, name: str) -> str:
        if self.child(folder, name) is None:
            return name
        number = 1
        while self.child(folder, numbered_name(name, number)) is not None:
            number += 1
        return numbered_name(name, number)

    def _attach(self, folder: Item, item: Item, now: float, by: Actor) -> None:
        folder.children[item.name.lower()] = item.id
        item.parent_id = folder.id
        folder.touch(now, by, content=True)

    def _detach(self, item: Item) -> None:
        parent = self.items.get(item.parent_id or "")
        if parent is not None and parent.children.get(item.name.lower()) == item.id:
            del parent.children[item.name.lower()]

    def create_folder(self, drive: Drive, parent: Item, name: str, conflict: str, by: Actor) -> tuple[Item, bool]:
        """The folder, and whether it was created (``replace`` of an existing folder keeps it, as OneDrive does)."""
        with self.lock:
            if not parent.is_folder:
                raise invalid_request("The parent item is not a folder.")
            existing = self.child(parent, check_name(name))
            if existing is not None:
                if conflict == FAIL:
                    raise name_already_exists()
                if conflict == REPLACE and existing.is_folder:
                    return existing, False
                if conflict == REPLACE:
                    self.delete(existing, by)
                else:
                    name = self.free_name(parent, name)
            now = self.state.now()
            folder = Item(_new_item_id(), drive.id, name, parent.id, True, now, now, by, by)
            self.items[folder.id] = folder
            self._attach(parent, folder, now, by)
            return folder, True

    def ensure_folders(self, drive: Drive, names: Iterable[str], by: Actor) -> Item:
        folder = self.root_of(drive)
        for name in names:
            existing = self.child(folder, name)
            folder = existing if existing is not None else self.create_folder(drive, folder, name, FAIL, by)[0]
        return folder

    def write_incoming(self, chunks: Iterable[bytes]) -> Path:
        path = self.incoming_path()
        with path.open("wb") as target:
            for chunk in chunks:
                target.write(chunk)
        return path

    def incoming_path(self) -> Path:
        return self.root / "incoming" / uuid.uuid4().hex

    def _keep(self, incoming: Path) -> Content:
        blob = self.root / "blobs" / uuid.uuid4().hex
        incoming.replace(blob)
        return Content.of(blob)

    def check_quota(self, drive: Drive, adding: int) -> None:
        if self.used(drive) + adding > drive.quota_total:
            raise quota_reached()

    def put_file(
        self, drive: Drive, folder: Item, name: str, incoming: Path, conflict: str, by: Actor
    ) -> tuple[Item, bool]:
        """Store ``incoming`` (moved, not copied) as ``name`` in ``folder``; the item and whether it is new."""
        with self.lock:
            check_name(name)
            if not folder.is_folder:
                raise invalid_request("The parent item is not a folder.")
            existing = self.child(folder, name)
            if existing is not None and conflict == FAIL:
                raise name_already_exists()
            if existing is not None and conflict == REPLACE and not existing.is_folder:
                return self.replace_content(drive, existing, incoming, by), False
            if existing is not None:
                name = self.free_name(folder, name) if conflict == RENAME else name
                if conflict == REPLACE:  # a folder of that name gives way to the file
                    self.delete(existing, by)
            self.check_quota(drive, incoming.stat().st_size)
            now = self.state.now()
            item = Item(_new_item_id(), drive.id, name, folder.id, False, now, now, by, by, self._keep(incoming))
            self.items[item.id] = item
            self._attach(folder, item, now, by)
            return item, True

    def replace_content(self, drive: Drive, item: Item, incoming: Path, by: Actor) -> Item:
        with self.lock:
            if item.is_folder:
                raise invalid_request("A folder has no content to replace.")
            self.check_quota(drive, incoming.stat().st_size - item.size)
            item.content = self._keep(incoming)
            item.touch(self.state.now(), by, content=True)
            return item

    def move(self, item: Item, *, name: str | None, parent: Item | None, conflict: str, by: Actor) -> Item:
        """Rename and/or move ``item`` (PATCH with ``name`` and ``parentReference``)."""
        with self.lock:
            if item.parent_id is None:
                raise invalid_request("The root folder cannot be renamed or moved.")
            target = parent or self.items[item.parent_id]
            if not target.is_folder:
                raise invalid_request("The destination is not a folder.")
            if target is item or (item.is_folder and self._inside(target, item)):
                raise invalid_request("A folder cannot be moved into itself.")
            new_name = check_name(name) if name is not None else item.name
            existing = self.child(target, new_name)
            if existing is not None and existing is not item:
                if conflict == FAIL:
                    raise name_already_exists()
                if conflict == REPLACE:
                    self.delete(existing, by)
                else:
                    new_name = self.free_name(target, new_name)
            now = self.state.now()
            self._detach(item)
            old_parent = self.items[item.parent_id]
            old_parent.touch(now, by, content=True)
            item.name = new_name
            self._attach(target, item, now, by)
            item.touch(now, by, content=False)
            return item

    def _inside(self, candidate: Item, folder: Item) -> bool:
        current: Item | None = candidate
        while current is not None:
            if current is folder:
                return True
            current = self.items.get(current.parent_id) if current.parent_id else None
        return False

    def delete(self, item: Item, by: Actor) -> None:
        """Into the recycle bin, with everything inside it."""
        with self.lock:
            if item.parent_id is None:
                raise invalid_request("The root folder cannot be deleted.")
            now = self.state.now()
            self._detach(item)
            self.items[item.parent_id].touch(now, by, content=True)
            item.deleted_at = now
            self.drives[item.drive_id].recycle_bin.append(item.id)

    # --- upload sessions ------------------------------------------------------------------------------------

    def session_create(
        self,
        drive: Drive,
        folder: Item,
        name: str,
        *,
        conflict: str,
        defer_commit: bool,
        by: Actor,
        target: Item | None,
        declared_size: int | None,
    ) -> UploadSession:
        with self.lock:
            check_name(name)
            if target is None and conflict == FAIL and self.child(folder, name) is not None:
                raise name_already_exists()
            if declared_size is not None:
                self.check_quota(drive, declared_size)
            now = self.state.now()
            token = secrets.token_urlsafe(48)
            path = self.root / "incoming" / f"session-{uuid.uuid4().hex}"
            path.touch()
            session = UploadSession(
                token=token,
                drive_id=drive.id,
                parent_id=folder.id,
                name=name,
                conflict=conflict,
                defer_commit=defer_commit,
                actor=by,
                path=path,
                created=now,
                expires=now + UPLOAD_SESSION_IDLE_SECONDS,
                target_id=target.id if target else None,
                declared_size=declared_size,
            )
            self.sessions[token] = session
            return session

    def session(self, token: str) -> UploadSession:
        """A live session; 404 ``itemNotFound`` once it expired, was cancelled or committed."""
        with self.lock:
            session = self.sessions.get(token)
            if session is None:
                raise item_not_found()
            if self.state.now() >= session.expires:
                self.session_discard(session)
                raise item_not_found()
            return session

    def session_discard(self, session: UploadSession) -> None:
        with self.lock:
            self.sessions.pop(session.token, None)
            session.path.unlink(missing_ok=True)

    def session_commit(self, session: UploadSession) -> tuple[Item, bool]:
        """The uploaded file in its folder (name conflicts resolved now); the session is gone afterwards.

        A conflict under ``fail`` is 409 and the session stays until it expires, as OneDrive keeps it.
        """
        with self.lock:
            drive = self.drives[session.drive_id]
            target = self.items.get(session.target_id or "")
            if target is not None and self.live(target):
                item, created = self.replace_content(drive, target, session.path, session.actor), False
            else:
                folder = self.items.get(session.parent_id)
                if folder is None or not self.live(folder):
                    raise item_not_found()
                name, conflict = session.name, session.conflict
                item, created = self.put_file(drive, folder, name, session.path, conflict, session.actor)
            self.sessions.pop(session.token, None)
            return item, created

    def sessions_expire(self, drive: Drive | None = None) -> int:
        with self.lock:
            now = self.state.now()
            chosen = [s for s in self.sessions.values() if drive is None or s.drive_id == drive.id]
            for session in chosen:
                session.expires = min(session.expires, now)
            return len(chosen)


def _segments(relative: str) -> list[str]:
    return [part for part in relative.split("/") if part]


def _seed_bytes(entry: SeedDriveItem) -> Iterable[bytes]:
    if entry.pdf is not None:
        return [pdf_document(entry.pdf)]
    if entry.text is not None:
        return [entry.text.encode()]
    return filler_chunks(entry.size or 0, seed=len(entry.path))


def read_chunks(source: BinaryIO, size: int = _READ_CHUNK) -> Iterator[bytes]:
    while chunk := source.read(size):
        yield chunk


def onedrive_store(state: State) -> OneDriveStore:
    return state_extension(state, OneDriveStore)
