"""User Synchronization's Graph calls with the feature's app-only token (client credentials, `User.Read.All` and
`Group.Read.All`) in the integration's directory, from the one token store (integrations.services.tokens), kept for
a few minutes by the worker and fetched again once when Graph refuses it."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from integrations.services.tokens import feature_app_token
from microsoft import errors as microsoft_errors
from microsoft.graph import DeltaPage, graph_delta_page, graph_list

if TYPE_CHECKING:
    from integrations.models import Feature

T = TypeVar("T")

PERMISSIONS = ("User.Read.All", "Group.Read.All")


# A run reads hundreds of pages in a row: a worker keeps the token it got for a few minutes rather than decrypting
# the token store's cache for every page (tokens last an hour; a refused one is fetched again at once).
_KEEP_SECONDS = 300
_recent: dict[tuple[int, str], tuple[float, str]] = {}


def _kept_token(feature: Feature) -> str:
    key = (feature.pk, feature.directory_id)
    kept = _recent.get(key)
    if kept is not None and time.monotonic() - kept[0] < _KEEP_SECONDS:
        return kept[1]
    token = feature_app_token(feature)
    _recent[key] = (time.monotonic(), token)
    return token


def _fresh_token(feature: Feature) -> str:
    token = feature_app_token(feature, fresh=True)
    _recent[(feature.pk, feature.directory_id)] = (time.monotonic(), token)
    return token


def with_app_token(feature: Feature, call: Callable[[str], T]) -> T:
    """`call(token)`, again with a new token when Graph refused the stored one (revoked, or clocks disagree)."""
    try:
        return call(_kept_token(feature))
    except microsoft_errors.AccessTokenRejected:
        return call(_fresh_token(feature))


class DeltaReader:
    """Reads a delta round's pages, the next one ahead in a thread of its own while the caller writes this one: the
    next link is known as soon as a page is read, and a page's writes wait on the database, not on Python.

    The thread only calls Graph (the token is taken here, so it never touches the database); what it read is used
    only when the caller asks for that very link, and is lost if the worker dies, as an unread page would be.
    """

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._ahead: tuple[str, Future[DeltaPage]] | None = None

    def read_ahead(self, feature: Feature, url: str) -> None:
        token = _kept_token(feature)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="user-sync-read-ahead")
        self._ahead = (url, self._pool.submit(graph_delta_page, token=token, url=url))

    def page(self, feature: Feature, url: str) -> DeltaPage:
        """The page at `url`: the one read ahead if it is this link, else read now (raises as Graph refused it)."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == url:
            try:
                return ahead[1].result()
            except microsoft_errors.AccessTokenRejected:
                return graph_delta_page(token=_fresh_token(feature), url=url)
        return with_app_token(feature, lambda token: graph_delta_page(token=token, url=url))

    def ready(self, url: str) -> DeltaPage | None:
        """The page at `url` if it was read ahead and has arrived without error, else None (a read still under way
        or a failure is left for `page`, which waits for it or raises it)."""
        ahead = self._ahead
        if ahead is None or ahead[0] != url or not ahead[1].done() or ahead[1].exception() is not None:
            return None
        self._ahead = None
        return ahead[1].result()

    def close(self) -> None:
        """No more pages: a read still under way is let go (its answer is not waited for)."""
        self._ahead = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def listed(feature: Feature, url: str) -> list[dict[str, Any]]:
    """Every object of a small Graph collection (the selected groups' members, group ids to check)."""

    def call(token: str) -> list[dict[str, Any]]:
        return list(graph_list(token=token, url=url))

    return with_app_token(feature, call)
