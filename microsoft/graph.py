"""Microsoft Graph for every feature: one client, typed pages, Graph's errors as `microsoft.errors`.

Callers pass an access token (from the token store) and a URL; nothing here knows Django or a feature. A URL is
built with `graph_url` (or `users_delta_url` / `groups_delta_url` for the first page of a delta round) and later
pages come from the previous page's links, which must point at the configured Graph host (the token is never
sent anywhere else).

Delta rounds are read one page per call, so each page can be its own short task that stores where it got to::

    page = graph_delta_page(token=token, url=saved_link or users_delta_url(select=["displayName", "mail"]))
    apply(page.objects)                            # merge members@delta of one group over several pages
    save(page.next_link or page.delta_link)        # next_link: more of this round; delta_link: the round is over

Failures raise `microsoft.errors`: `TransientError` (429, 5xx, timeouts; ``retry_after`` in seconds, so the
task retries no earlier), `AccessTokenRejected` (401: get a new token once), `PermissionMissing` (403: a person
must grant the permission), `ResourceNotFound` (404), `DeltaExpired` (the delta link is no longer accepted: start
a full read, from ``resync_url`` when Graph gave one). Calls do not wait for ``Retry-After`` unless asked
(``wait_up_to`` seconds, at most `IN_CALL_RETRIES` times): a worker should not sleep on Microsoft's behalf.

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
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import requests

from microsoft import config, errors
from microsoft.http import MicrosoftSession, session_create, transport_error

__all__ = [
    "IN_CALL_RETRIES",
    "DeltaPage",
    "GraphPage",
    "MemberChange",
    "graph_delta_page",
    "graph_get",
    "graph_list",
    "graph_page",
    "graph_session",
    "graph_url",
    "groups_delta_url",
    "member_changes",
    "removed_reason",
    "users_delta_url",
]

logger = logging.getLogger(__name__)

VERSION = "v1.0"
# At most this many in-call retries after a 429/503, and only when the caller allows the wait (``wait_up_to``).
IN_CALL_RETRIES = 2
_RETRYABLE_STATUSES = frozenset({429, 503})


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


@dataclass(frozen=True)
class MemberChange:
    """One entry of a group's ``members@delta``: a member added, or removed (``removed``)."""

    object_id: str
    object_type: str  # "user", "group", "device", ... from @odata.type
    removed: bool


def removed_reason(item: Mapping[str, Any]) -> str | None:
    """``changed`` (soft-deleted, restorable: deactivate, don't forget) or ``deleted`` (gone); None when present."""
    removed = item.get("@removed")
    return str(removed.get("reason") or "deleted") if isinstance(removed, Mapping) else None


def member_changes(group: Mapping[str, Any]) -> tuple[MemberChange, ...]:
    """The membership changes a delta page carries for one group (empty when it carries none)."""
    return tuple(
        MemberChange(
            object_id=str(entry["id"]),
            object_type=str(entry.get("@odata.type", "")).rpartition(".")[2] or "user",
            removed=removed_reason(entry) is not None,
        )
        for entry in group.get("members@delta", ())
    )


# --- URLs ---------------------------------------------------------------------------------------------------------


def graph_url(
    path: str,
    *,
    select: Iterable[str] = (),
    filter: str | None = None,
    top: int | None = None,
    expand: str | None = None,
) -> str:
    """``<MICROSOFT_GRAPH_URL>/v1.0<path>`` with Graph's query options (``$select=a,b`` left readable)."""
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


def _get_json(*, token: str, url: str, session: MicrosoftSession | None, wait_up_to: float) -> dict[str, Any]:
    if not _on_graph_host(url):
        raise errors.ConfigurationError(
            "A Microsoft Graph link points outside the configured Graph address; it was not followed.",
            error="other_graph_host",
        )
    session = session or graph_session()
    waited, attempt = 0.0, 0
    while True:
        response = _send(session, token, url)
        if response.status_code == 200:
            return _json(response)
        error = errors.graph_classify(response.status_code, _json_or_empty(response), response.headers)
        pause = error.retry_after
        may_wait = response.status_code in _RETRYABLE_STATUSES and pause is not None and attempt < IN_CALL_RETRIES
        if not may_wait or waited + (pause or 0.0) > wait_up_to:
            _log_failure(url, error)
            raise error
        # Graph said when to come back, and the caller can afford it: wait exactly that long, no less.
        time.sleep(pause or 0.0)
        waited, attempt = waited + (pause or 0.0), attempt + 1


def _send(session: MicrosoftSession, token: str, url: str) -> requests.Response:
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        "client-request-id": str(uuid.uuid4()),
        "return-client-request-id": "true",
    }
    try:
        return session.get(url, headers=headers, allow_redirects=False)
    except requests.RequestException as exc:
        error = transport_error(exc)
        _log_failure(url, error)
        raise error from exc


def _json(response: requests.Response) -> dict[str, Any]:
    body = _json_or_empty(response)
    if not body and response.content:
        raise errors.TransientError(
            "Microsoft Graph answered with something that is not Graph's JSON (a proxy page?). It will be retried "
            "automatically.",
            error="unexpected_body",
            status=response.status_code,
        )
    return body


def _json_or_empty(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _log_failure(url: str, error: errors.MicrosoftError) -> None:
    # The path only: query strings carry skip and delta tokens.
    logger.warning(
        "Graph GET %s failed: %s %s (request-id %s, retry after %s)",
        urlsplit(url).path,
        error.status,
        error.error,
        error.correlation_id,
        error.retry_after,
    )
