"""Browsing the user's OneDrive for printing (one Graph call a page, with the user's own token): folders first,
only printable files, breadcrumbs, and Graph's drive search."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from microsoft import onedrive as od
from onedrive.errors import OneDriveError
from onedrive.printable import is_printable
from onedrive.services.connection import with_user_token

if TYPE_CHECKING:
    from accounts.models import User
    from integrations.models import Feature

PAGE_SIZE = 50
MAX_SEARCH = 200
MAX_PATH = 400


@dataclass(frozen=True)
class Crumb:
    name: str
    path: str


@dataclass(frozen=True)
class Listing:
    folder: str  # the folder shown ("/" the root), or "" for search results
    search: str
    items: tuple[od.DriveItem, ...]  # folders first, then the printable files
    hidden: int  # files on this page that cannot be printed
    next_link: str | None

    @property
    def crumbs(self) -> list[Crumb]:
        crumbs = [Crumb("My files", "/")]
        parts = [p for p in self.folder.split("/") if p]
        for index, part in enumerate(parts):
            crumbs.append(Crumb(part, "/" + "/".join(parts[: index + 1])))
        return crumbs


def clean_folder(path: str) -> str:
    """A folder path as the browser sent it, checked: `/A/B` with no empty, `.` or `..` parts."""
    parts = [p for p in (path or "/").split("/") if p]
    if len(path) > MAX_PATH or any(p in (".", "..") for p in parts):
        raise OneDriveError("That is not a folder of your OneDrive.")
    return "/" + "/".join(parts)


def drive_listing(
    *,
    user: User,
    feature: Feature,
    folder: str = "/",
    search: str = "",
    next_link: str | None = None,
    folders_only: bool = False,
) -> Listing:
    """One page of a folder, or of a search of the whole drive (names containing `search`); `folders_only` for
    choosing a folder."""
    search = search.strip()[:MAX_SEARCH]
    folder = clean_folder(folder) if not search else ""

    def page(token: str) -> od.ItemPage:
        if next_link:  # Graph's own link: followed only on the configured Graph host, with this user's token
            if search:
                return od.search_page(token=token, text=search, next_link=next_link)
            return od.children_page(token=token, next_link=next_link)
        if search:
            return od.search_page(token=token, text=search, page_size=PAGE_SIZE)
        return od.children_page(token=token, folder_path=folder, page_size=PAGE_SIZE)

    result = with_user_token(user=user, feature=feature, call=page)
    shown = tuple(i for i in result.folders_first() if i.is_folder or (not folders_only and is_printable(i.name)))
    return Listing(
        folder=folder,
        search=search,
        items=shown,
        hidden=0 if folders_only else len(result.items) - len(shown),
        next_link=result.next_link,
    )
