"""Microsoft Graph for every feature: one client, typed pages, Graph's errors as `microsoft.errors`.

Callers pass an access token (from the token store) and a URL; nothing here knows Django or a feature. A URL is
built with `graph_url` (or `users_delta_url` / `groups_delta_url` for the first page of a delta round) and later
pages come from the previous page's links, which must point at the configured Graph host (the token is never
sent anywhere else).

Delta rounds are read one page per call, so each page can be its own short task that stores where it got to::

    page = graph_delta_page(token=token, url=saved_link or users_delta_url(select=["displayName", "mail"]))
    apply(page.objects)                            # merge members@delta of one group over several pages
    save(page.next_link or page.delta_link)        # next_link: more of this round; delta_link: the round is over

Writes go through `graph_send` (POST, PATCH, PUT, DELETE with a JSON body or raw content; the answer's JSON,
``{}`` for 204), and files Graph serves by redirect (``$value``, ``/content``: a 302 to a pre-authenticated URL)
through `graph_download`, which streams them into a file object without holding them in memory and follows the
redirect without the bearer token (the pre-authenticated URL is often on another host). URLs that carry their own
credential (an upload session's ``uploadUrl``) are called with `preauthenticated_send`, never with the token; their
path is the credential, so logs name only their host.

Failures raise `microsoft.errors`: `TransientError` (429, 5xx, timeouts; ``retry_after`` in seconds, so the
task retries no earlier), `AccessTokenRejected` (401: get a new token once), `PermissionMissing` (403: a person
must grant the permission), `ResourceNotFound` (404), `DeltaExpired` (the delta link is no longer accepted: start
a full read, from ``resync_url`` when Graph gave one), `ContentTooLarge` (a download over the caller's limit).
Calls do not wait for ``Retry-After`` unless asked (``wait_up_to`` seconds, at most `IN_CALL_RETRIES` times): a
worker should not sleep on Microsoft's behalf.

References:
- Paging: https://learn.microsoft.com/graph/paging
- Query parameters: https://learn.microsoft.com/graph/query-parameters
- Delta query: https://learn.microsoft.com/graph/delta-query-overview
- user: delta https://learn.microsoft.com/graph/api/user-delta
- group: delta (members over several pages) https://learn.microsoft.com/graph/delta-query-groups
- Errors: https://learn.microsoft.com/graph/errors
- Throttling: https://learn.microsoft.com/graph/throttling
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol
from urllib.parse import quote, urlencode, urljoin, urlsplit

import requests

from microsoft import config, errors
from microsoft.http import MicrosoftSession, json_or_empty, session_create, transport_error

__all__ = [
    "IN_CALL_RETRIES",
    "DeltaPage",
    "GraphPage",
    "SizedReader",
    "graph_delta_page",
    "graph_download",
    "graph_get",
    "graph_list",
    "graph_page",
    "graph_send",
    "graph_session",
    "graph_url",
    "groups_delta_url",
    "preauthenticated_send",
    "removed_reason",
    "user_member_changes",
    "users_delta_url",
]

logger = logging.getLogger(__name__)

VERSION = "v1.0"
# At most this many in-call retries after a 429/503, and only when the caller allows the wait (``wait_up_to``).
IN_CALL_RETRIES = 2
_RETRYABLE_STATUSES = frozenset({429, 503})
_WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
_SUCCESS_STATUSES = frozenset({200, 201, 202, 204})
DOWNLOAD_CHUNK_BYTES = 64 * 1024


class SizedReader(Protocol):
    """A body streamed in blocks whose length is known up front (the Content-Length)."""

    def read(self, size: int = -1, /) -> bytes: ...

    def __len__(self) -> int: ...


# --- results ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GraphPage:
    """One page of a collection; ``next_link`` is the URL of the next page (None on the last)."""

    objects: tuple[dict[str, Any], ...]
    next_link: str | None


@dataclass(frozen=True)
class DeltaPage:
    """One page of a delta round: more of the round at ``next_link``, or the round's end and its ``delta_link``.

    The same object can appear on several pages (a large group's ``members@delta`` continues under the same id),
    and an object can be replayed in the next round: apply pages as merges, never as replacements.
    """

    objects: tuple[dict[str, Any], ...]
    next_link: str | None
    delta_link: str | None

    @property
    def is_last(self) -> bool:
        return self.next_link is None


def removed_reason(item: Mapping[str, Any]) -> str | None:
    """``changed`` (soft-deleted, restorable: deactivate, don't forget) or ``deleted`` (gone); None when present."""
    removed = item.get("@removed")
    return str(removed.get("reason") or "deleted") if isinstance(removed, Mapping) else None


def user_member_changes(group: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """The users a delta page adds to or removes from one group's ``members@delta``, as (object id lower-cased,
    removed); members of other types (groups, devices: their ``@odata.type``) are left out. Tuples, not an object
    per entry: a full read of 100,000 users carries 200,000 of them."""
    found = []
    for entry in group.get("members@delta", ()):
        kind = str(entry.get("@odata.type", "")).rpartition(".")[2]
        if not kind or kind == "user":
            found.append((str(entry["id"]).lower(), isinstance(entry.get("@removed"), Mapping)))
    return found


# --- URLs ---------------------------------------------------------------------------------------------------------


def graph_url(
    path: str,
    *,
    select: Iterable[str] = (),
    filter: str | None = None,
    top: int | None = None,
    expand: str | None = None,
    orderby: str | None = None,
) -> str:
    """``<MICROSOFT_GRAPH_URL>/v1.0<path>`` with Graph's query options (``$select=a,b`` left readable).

    ``path`` is used as given: percent-encode names in it (``quote``) before.
    """
    query: dict[str, str] = {}
    selected = ",".join(select)
    if selected:
        query["$select"] = selected
    if filter:
        query["$filter"] = filter
    if top is not None:
        query["$top"] = str(top)
    if expand:
        query["$expand"] = expand
    if orderby:
        query["$orderby"] = orderby
    url = f"{_base_url()}/{VERSION}/{path.lstrip('/')}"
    return f"{url}?{urlencode(query, safe='$,()/', quote_via=quote)}" if query else url


def users_delta_url(*, select: Iterable[str]) -> str:
    """The first page of a users delta round tracking ``select`` (Graph tracks only selected properties).

    Reference: https://learn.microsoft.com/graph/api/user-delta
    """
    return graph_url("/users/delta", select=_with_id(select))


def groups_delta_url(*, select: Iterable[str] = ("displayName",), members: bool = True) -> str:
    """The first page of a groups delta round; ``members`` tracks membership (``members@delta``).

    Reference: https://learn.microsoft.com/graph/api/group-delta
    """
    selected = [name for name in _with_id(select) if name != "members"]
    return graph_url("/groups/delta", select=[*selected, "members"] if members else selected)


def _with_id(select: Iterable[str]) -> list[str]:
    names = [name for name in select if name]
    return names if "id" in names else ["id", *names]


def _base_url() -> str:
    return config.endpoints().graph_url


# --- calls --------------------------------------------------------------------------------------------------------

_local = threading.local()


def graph_session() -> MicrosoftSession:
    """This thread's session for Graph (kept alive between calls: a sync reads hundreds of pages).

    A new one is made when the CA bundle or timeout settings change, and in a forked worker.
    """
    endpoints = config.endpoints()
    key = (os.getpid(), endpoints.ca_bundle, endpoints.http_timeout)
    cached: tuple[tuple[Any, ...], MicrosoftSession] | None = getattr(_local, "session", None)
    if cached is None or cached[0] != key:
        if cached is not None:
            cached[1].close()
        cached = (key, session_create())
        _local.session = cached
    return cached[1]


def graph_get(
    *, token: str, url: str, session: MicrosoftSession | None = None, wait_up_to: float = 0.0
) -> dict[str, Any]:
    """GET one Graph resource (an object, or a collection page as Graph sent it).

    Reference: https://learn.microsoft.com/graph/use-the-api
    """
    return _get_json(token=token, url=url, session=session, wait_up_to=wait_up_to)


def graph_page(*, token: str, url: str, session: MicrosoftSession | None = None, wait_up_to: float = 0.0) -> GraphPage:
    """One page of a collection (``value`` and ``@odata.nextLink``).

    Reference: https://learn.microsoft.com/graph/paging
    """
    body = _get_json(token=token, url=url, session=session, wait_up_to=wait_up_to)
    return GraphPage(objects=_objects(body), next_link=body.get("@odata.nextLink"))


def graph_list(
    *,
    token: str,
    url: str,
    session: MicrosoftSession | None = None,
    wait_up_to: float = 0.0,
    limit: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Every object of a collection, following ``@odata.nextLink`` (up to ``limit`` objects).

    For small collections read in one go (checking group ids an admin typed); large reads go page by page.
    """
    session = session or graph_session()
    next_url: str | None = url
    returned = 0
    while next_url:
        page = graph_page(token=token, url=next_url, session=session, wait_up_to=wait_up_to)
        for item in page.objects:
            if limit is not None and returned >= limit:
                return
            returned += 1
            yield item
        next_url = page.next_link


def graph_delta_page(
    *, token: str, url: str, session: MicrosoftSession | None = None, wait_up_to: float = 0.0
) -> DeltaPage:
    """One page of a delta round: the first (``users_delta_url``...), a ``next_link`` or a stored ``delta_link``.

    Raises `errors.DeltaExpired` when Graph no longer accepts the link (also for a link to another Graph host than
    the configured one: the endpoints changed, and that host's position means nothing here).

    Reference: https://learn.microsoft.com/graph/delta-query-overview#use-delta-query-to-track-changes-in-a-resource-collection
    """
    if not _on_graph_host(url):
        raise errors.DeltaExpired(
            "The stored position of the change tracking belongs to another Microsoft Graph address than the one "
            "configured now. A full read starts over automatically.",
            error="other_graph_host",
        )
    body = _get_json(token=token, url=url, session=session, wait_up_to=wait_up_to)
    return DeltaPage(
        objects=_objects(body),
        next_link=body.get("@odata.nextLink"),
        delta_link=body.get("@odata.deltaLink"),
    )


def _objects(body: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
    value = body.get("value", [])
    return tuple(item for item in value if isinstance(item, dict)) if isinstance(value, list) else ()


def _on_graph_host(url: str) -> bool:
    base = urlsplit(_base_url())
    target = urlsplit(url)
    return (target.scheme, target.netloc) == (base.scheme, base.netloc) and target.path.startswith(
        base.path.rstrip("/") + "/"
    )


def graph_send(
    *,
    token: str,
    method: str,
    url: str,
    body: Mapping[str, Any] | None = None,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    session: MicrosoftSession | None = None,
    wait_up_to: float = 0.0,
) -> dict[str, Any]:
    """POST, PATCH, PUT or DELETE one Graph resource; the answer's JSON (``{}`` for 204 No Content).

    ``body`` is sent as JSON, or ``content`` as raw bytes (a small file's simple upload); ``headers`` add to
    Graph's (``If-Match``...). A 429 or 503 means Graph did not act on the request, so waiting for ``Retry-After``
    (within ``wait_up_to``) and sending it again is safe for writes too.

    Reference: https://learn.microsoft.com/graph/use-the-api
    """
    if method.upper() not in _WRITE_METHODS:
        raise ValueError(f"graph_send writes; {method} is not a write (use graph_get)")
    if body is not None and content is not None:
        raise ValueError("graph_send sends a JSON body or raw content, not both")
    response = _exchange(
        method.upper(),
        token=token,
        url=url,
        body=body,
        content=content,
        headers=headers,
        session=session,
        wait_up_to=wait_up_to,
    )
    return _json(response) if response.status_code != 204 and response.content else {}


def preauthenticated_send(
    *,
    method: str,
    url: str,
    content: bytes | SizedReader | None = None,
    headers: Mapping[str, str] | None = None,
    session: MicrosoftSession | None = None,
) -> tuple[int, dict[str, Any]]:
    """One request to a URL that carries its own credential (an upload session's ``uploadUrl``): https only, no
    bearer token (Microsoft: sending it "may result in an HTTP 401"). ``content`` is bytes, or a readable object
    with ``__len__`` that is streamed in blocks. The status and JSON of a 2xx answer; other answers raise as
    Graph's do (`errors.graph_classify`), without waiting for ``Retry-After``.

    Reference: https://learn.microsoft.com/graph/api/driveitem-createuploadsession#upload-bytes-to-the-upload-session
    """
    if urlsplit(url).scheme != "https":
        raise errors.ConfigurationError(
            "Microsoft gave an upload address that is not https; nothing was sent to it.", error="insecure_url"
        )
    session = session or graph_session()
    try:
        response = session.request(
            method, url, data=content, headers=dict(headers or {}), allow_redirects=False, url_is_secret=True
        )
    except requests.RequestException as exc:
        error = transport_error(exc)
        _log_failure(method, url, error, preauthenticated=True)
        raise error from exc
    if 200 <= response.status_code < 300:
        return response.status_code, _json(response) if response.content else {}
    error = errors.graph_classify(response.status_code, json_or_empty(response), response.headers)
    _log_failure(method, url, error, preauthenticated=True)
    raise error


def graph_download(
    *,
    token: str,
    url: str,
    destination: BinaryIO,
    max_bytes: int,
    session: MicrosoftSession | None = None,
    wait_up_to: float = 0.0,
) -> int:
    """Stream a file Graph serves into ``destination``; the number of bytes written.

    Graph answers such URLs (a print document's ``$value``, a drive item's ``/content``) with a ``302 Found`` to a
    pre-authenticated URL, which is fetched without the bearer token: it is often on another host, and the token
    must not travel there. A 200 with the content itself is accepted too. Nothing is held in memory beyond one
    chunk. Over ``max_bytes`` (announced, or counted while streaming) raises `errors.ContentTooLarge` and stops
    reading; what was written by then is the caller's to discard (write to a temporary file).

    Reference: https://learn.microsoft.com/graph/api/printdocument-get-file
    """
    session = session or graph_session()
    response = _exchange("GET", token=token, url=url, session=session, wait_up_to=wait_up_to, stream=True)
    if response.status_code in (301, 302, 303, 307, 308):
        location = _download_location(url, response)
        response.close()
        response = _fetch_preauthenticated(session, location)
    try:
        return _stream_into(response, destination, max_bytes)
    finally:
        response.close()


def _download_location(url: str, response: requests.Response) -> str:
    location = urljoin(url, response.headers.get("location", ""))
    if urlsplit(location).scheme != "https":
        raise errors.TransientError(
            "Microsoft Graph redirected a download to an address that is not https; it was not followed. It will "
            "be retried automatically.",
            error="insecure_redirect",
            status=response.status_code,
        )
    return location


def _fetch_preauthenticated(session: MicrosoftSession, location: str) -> requests.Response:
    try:
        # No Authorization header: the URL carries its own short-lived credential.
        response = session.request("GET", location, stream=True, allow_redirects=True, url_is_secret=True)
    except requests.RequestException as exc:
        error = transport_error(exc)
        _log_failure("GET", location, error, preauthenticated=True)
        raise error from exc
    if response.status_code == 200:
        return response
    response.close()
    error = _download_error(response)
    _log_failure("GET", location, error, preauthenticated=True)
    raise error


def _download_error(response: requests.Response) -> errors.MicrosoftError:
    status = response.status_code
    retry_after = errors.parse_retry_after(response.headers)
    if status == 404:
        return errors.ResourceNotFound(
            "The file is no longer available in Microsoft 365.", error="download_not_found", status=status
        )
    if status == 429 or status >= 500:
        return errors.TransientError(
            "Microsoft 365 could not serve the file just now. It will be retried automatically.",
            error="download_unavailable",
            status=status,
            retry_after=retry_after,
        )
    # 401/403/410: the pre-authenticated link expired before it was used; a new one is asked for on the retry.
    return errors.TransientError(
        "Microsoft 365 refused the download link (it expires quickly). A new one is requested automatically.",
        error="download_link_refused",
        status=status,
    )


def _stream_into(response: requests.Response, destination: BinaryIO, max_bytes: int) -> int:
    announced = response.headers.get("content-length")
    size = int(announced) if announced and announced.isdigit() else None
    if size is not None and size > max_bytes:
        raise _too_large(max_bytes, size)
    written = 0
    try:
        for chunk in response.iter_content(DOWNLOAD_CHUNK_BYTES):
            written += len(chunk)
            if written > max_bytes:
                raise _too_large(max_bytes, size)
            destination.write(chunk)
    except requests.RequestException as exc:
        raise transport_error(exc) from exc
    return written


def _too_large(limit: int, size: int | None) -> errors.ContentTooLarge:
    return errors.ContentTooLarge(
        f"The file is larger than the {limit:,} bytes accepted here.", limit=limit, size=size, error="too_large"
    )


def _get_json(*, token: str, url: str, session: MicrosoftSession | None, wait_up_to: float) -> dict[str, Any]:
    return _json(_exchange("GET", token=token, url=url, session=session, wait_up_to=wait_up_to))


def _exchange(
    method: str,
    *,
    token: str,
    url: str,
    session: MicrosoftSession | None,
    wait_up_to: float,
    body: Mapping[str, Any] | None = None,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    stream: bool = False,
) -> requests.Response:
    """One Graph request, waiting out a 429/503 when the caller allows it; a success or a redirect, else raises."""
    if not _on_graph_host(url):
        raise errors.ConfigurationError(
            "A Microsoft Graph link points outside the configured Graph address; it was not followed.",
            error="other_graph_host",
        )
    session = session or graph_session()
    waited, attempt = 0.0, 0
    while True:
        response = _send(session, method, token, url, body=body, content=content, headers=headers, stream=stream)
        if response.status_code in _SUCCESS_STATUSES or (stream and 300 <= response.status_code < 400):
            return response
        error = errors.graph_classify(response.status_code, json_or_empty(response), response.headers)
        response.close()
        pause = error.retry_after
        may_wait = response.status_code in _RETRYABLE_STATUSES and pause is not None and attempt < IN_CALL_RETRIES
        if not may_wait or waited + (pause or 0.0) > wait_up_to:
            _log_failure(method, url, error)
            raise error
        # Graph said when to come back, and the caller can afford it: wait exactly that long, no less.
        time.sleep(pause or 0.0)
        waited, attempt = waited + (pause or 0.0), attempt + 1


def _send(
    session: MicrosoftSession,
    method: str,
    token: str,
    url: str,
    *,
    body: Mapping[str, Any] | None,
    content: bytes | None,
    headers: Mapping[str, str] | None,
    stream: bool,
) -> requests.Response:
    sent = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        "client-request-id": str(uuid.uuid4()),
        "return-client-request-id": "true",
        **(headers or {}),
    }
    if content is not None:
        sent.setdefault("Content-Type", "application/octet-stream")
    try:
        return session.request(method, url, headers=sent, json=body, data=content, allow_redirects=False, stream=stream)
    except requests.RequestException as exc:
        error = transport_error(exc)
        _log_failure(method, url, error)
        raise error from exc


def _json(response: requests.Response) -> dict[str, Any]:
    body = json_or_empty(response)
    if not body and response.content:
        raise errors.TransientError(
            "Microsoft Graph answered with something that is not Graph's JSON (a proxy page?). It will be retried "
            "automatically.",
            error="unexpected_body",
            status=response.status_code,
        )
    return body


def _log_failure(method: str, url: str, error: errors.MicrosoftError, *, preauthenticated: bool = False) -> None:
    # The path only: query strings carry skip and delta tokens. A pre-authenticated URL's path is its credential:
    # only its host is logged.
    parts = urlsplit(url)
    shown = f"{parts.netloc} (pre-authenticated)" if preauthenticated else parts.path
    logger.warning(
        "Graph %s %s failed: %s %s (request-id %s, retry after %s)",
        method,
        shown,
        error.status,
        error.error,
        error.correlation_id,
        error.retry_after,
    )
