"""User Synchronization's Graph calls with the feature's app-only token (client credentials, `User.Read.All` and
`Group.Read.All`) in the integration's directory, from the one token store (integrations.services.tokens), kept for
a few minutes by the worker and fetched again once when Graph refuses it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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


class _Stream:
    """Pages read in a row by the reader's thread, each published as it arrives: ``url`` is the link of the first
    page not yet taken; ``failed``, the error that stopped the reading at that link (raised when its page is asked
    for, so a refusal, a 429 or an expired link is answered exactly as if that page had been read then)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.arrived: list[DeltaPage] = []
        self.failed: Exception | None = None
        self.done = False
        self.stopped = False
        self.changed = threading.Condition()

    def read(self, token: str, depth: int) -> None:
        """Up to `depth` pages, each at the previous one's next link, until the round ends or a read fails."""
        url: str | None = self.url
        for _ in range(depth):
            if url is None or self.stopped:
                break
            try:
                page = graph_delta_page(token=token, url=url)
            except Exception as exc:  # kept for the caller: raised when it asks for this page
                with self.changed:
                    self.failed = exc
                break
            with self.changed:
                self.arrived.append(page)
                self.changed.notify_all()
            url = page.next_link
        with self.changed:
            self.done = True
            self.changed.notify_all()

    def take(self) -> tuple[list[DeltaPage], Exception | None]:
        """The pages arrived so far (waiting for the first), or the failure that came instead of it."""
        with self.changed:
            self.changed.wait_for(lambda: bool(self.arrived) or self.done)
            taken, self.arrived = self.arrived, []
            if taken:
                self.url = taken[-1].next_link or ""
                return taken, None
            return [], self.failed

    def covers(self, url: str) -> bool:
        """Whether `url` is the next link this stream gives (arrived, or still to be read by it)."""
        with self.changed:
            return self.url == url and (bool(self.arrived) or not self.done or self.failed is not None)


class DeltaReader:
    """Reads a delta round's pages ahead in a thread of its own while the caller writes: the next link is known as
    soon as a page is read, and a page's writes wait on the database, not on Python. The thread reads up to `depth`
    pages in a row (following their next links); the caller takes those that have arrived and writes them together.

    The thread only calls Graph (the token is taken here, so it never touches the database); what it read is used
    only when the caller asks for that very link, and is lost if the worker dies, as an unread page would be.
    """

    def __init__(self, depth: int = 1) -> None:
        self.depth = depth
        self._pool: ThreadPoolExecutor | None = None
        self._stream: _Stream | None = None

    def read_ahead(self, feature: Feature, url: str) -> None:
        """Read the pages from `url` on, unless the pages being read already lead there."""
        if self._stream is not None and self._stream.covers(url):
            return
        self._stop()
        token = _kept_token(feature)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="user-sync-read-ahead")
        self._stream = _Stream(url)
        self._pool.submit(self._stream.read, token, self.depth)

    def pages(self, feature: Feature, url: str) -> list[DeltaPage]:
        """The pages from `url` on that were read ahead and have arrived (at least the first, waited for), else the
        page read now (raises as Graph refused it)."""
        stream = self._stream
        if stream is None or not stream.covers(url):
            self._stop()
            return [with_app_token(feature, lambda token: graph_delta_page(token=token, url=url))]
        taken, failed = stream.take()
        if taken:
            return taken
        self._stream = None
        if isinstance(failed, microsoft_errors.AccessTokenRejected):
            return [graph_delta_page(token=_fresh_token(feature), url=url)]
        assert failed is not None
        raise failed

    def _stop(self) -> None:
        if self._stream is not None:
            self._stream.stopped = True
            self._stream = None

    def close(self) -> None:
        """No more pages: a read still under way is let go (its answer is not waited for)."""
        self._stop()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def listed(feature: Feature, url: str) -> list[dict[str, Any]]:
    """Every object of a small Graph collection (the selected groups' members, group ids to check)."""

    def call(token: str) -> list[dict[str, Any]]:
        return list(graph_list(token=token, url=url))

    return with_app_token(feature, call)
