"""Microsoft Graph's common ground in the emulator: who is calling, what they may do, Graph's wire format.

Every Graph endpoint of the emulator (the directory, OneDrive, Universal Print) is declared with ``graph_route``:
the handler receives a ``GraphRequest`` whose ``caller`` was authenticated from the bearer token (one this emulator
issued, for Graph, unexpired, not revoked) and answers with ``GraphRequest.json`` or ``GraphRequest.page``. Errors
are raised as ``GraphError`` and leave as Graph's error JSON::

    {"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation.",
               "innerError": {"date": "2024-05-01T10:00:00", "request-id": "<guid>", "client-request-id": "<guid>"}}}

Graph is served under ``/graph`` (``MICROSOFT_GRAPH_URL`` is ``<https_url>/graph``); links in responses
(``@odata.nextLink``, ``@odata.deltaLink``, ``@odata.context``) use the host the client called. The request log and
the injected faults (endpoint ``graph``: 429/503 with ``Retry-After``, latency, dropped connections) come from
``m365_emulator.middleware`` like every other endpoint's.

References:
- Error responses: https://learn.microsoft.com/graph/errors
- Paging: https://learn.microsoft.com/graph/paging
- Query parameters ($select, $top, $filter): https://learn.microsoft.com/graph/query-parameters
- Throttling (429, Retry-After): https://learn.microsoft.com/graph/throttling
- Permissions in tokens (roles, scp): https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import inspect
import json
import secrets
import threading
import uuid
import weakref
import zlib
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from m365_emulator.responses import emulator_state
from m365_emulator.scopes import GRAPH, canonical_resource
from m365_emulator.state import State

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
MOUNT_PATH = "/graph"
VERSION = "v1.0"
ODATA_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
# Tokens a few minutes early or late are accepted, as Entra-protected APIs do.
CLOCK_SKEW_SECONDS = 300
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 999


# --- errors ---------------------------------------------------------------------------------------------------


@dataclass
class GraphError(Exception):
    """An error as Graph reports it: the HTTP status, a ``code`` clients branch on, and a message for people."""

    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


def error_body(code: str, message: str, *, request_id: str, client_request_id: str, moment: datetime) -> dict[str, Any]:
    inner = {
        "date": moment.strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id,
        "client-request-id": client_request_id,
    }
    return {"error": {"code": code, "message": message, "innerError": inner}}


def bad_request(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(400, code, message)


def unsupported_query(message: str) -> GraphError:
    return GraphError(400, "Request_UnsupportedQuery", message)


def not_found(object_id: str) -> GraphError:
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{object_id}' does not exist or one of its queried reference-property objects are not present.",
    )


def forbidden() -> GraphError:
    return GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


def unauthenticated(message: str, state: State) -> GraphError:
    challenge = (
        f'Bearer realm="", authorization_uri="{state.https_base}/common/oauth2/authorize", client_id="{GRAPH_APP_ID}"'
    )
    return GraphError(401, "InvalidAuthenticationToken", message, {"WWW-Authenticate": challenge})


def fault_error(status: int) -> GraphError:
    """What an injected 429 or 5xx says (the middleware adds ``Retry-After`` when the fault has one)."""
    if status == 429:
        return GraphError(429, "TooManyRequests", "Too many requests. Please try again later.")
    if status == 503:
        return GraphError(503, "serviceNotAvailable", "The service is temporarily unavailable. Try again later.")
    if status == 504:
        return GraphError(504, "UnknownError", "Gateway timeout.")
    return GraphError(status, "generalException", "An unspecified error has occurred.")


def fault_body(status: int, *, client_request_id: str | None, moment: datetime) -> tuple[dict[str, Any], str]:
    """The body of an injected fault, and its request id."""
    error = fault_error(status)
    request_id = str(uuid.uuid4())
    body = error_body(
        error.code,
        error.message,
        request_id=request_id,
        client_request_id=client_request_id or request_id,
        moment=moment,
    )
    return body, request_id


# --- who is calling -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Permissions:
    """What an endpoint accepts: any one of these application roles (app-only) or delegated scopes (a user)."""

    application: frozenset[str]
    delegated: frozenset[str]

    @classmethod
    def of(cls, *, application: Iterable[str] = (), delegated: Iterable[str] = ()) -> Permissions:
        return cls(frozenset(application), frozenset(delegated))

    def __or__(self, other: Permissions) -> Permissions:
        return Permissions(self.application | other.application, self.delegated | other.delegated)


@dataclass(frozen=True)
class Caller:
    """The bearer of a valid Graph token: an app alone (``roles``) or an app acting for a user (``scopes``)."""

    tenant_id: str
    app_id: str
    user_id: str | None
    roles: frozenset[str]
    scopes: frozenset[str]
    issued_at: float

    @property
    def app_only(self) -> bool:
        return self.user_id is None

    def holds(self, permissions: Permissions) -> bool:
        if self.app_only:
            return bool(self.roles & permissions.application)
        return bool(self.scopes & permissions.delegated)

    def require(self, permissions: Permissions) -> None:
        """403 ``Authorization_RequestDenied`` unless the token carries one of the permissions."""
        if not self.holds(permissions):
            raise forbidden()


@dataclass
class Revocation:
    """Access tokens issued before ``before`` to this app (any app when None) in this directory are refused."""

    tenant_id: str
    client_id: str | None
    before: float


def authenticate(state: State, request: Request) -> Caller:
    """Check the bearer token as Graph does; 401 ``InvalidAuthenticationToken`` with Graph's messages otherwise."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthenticated("Access token is empty.", state)
    claims = _claims(state, token)
    if "appid" not in claims or canonical_resource(str(claims.get("aud", ""))) != GRAPH:
        raise unauthenticated("Access token validation failure. Invalid audience.", state)
    now = state.now()
    expired = float(claims.get("exp", 0)) <= now - CLOCK_SKEW_SECONDS
    if expired or float(claims.get("nbf", 0)) > now + CLOCK_SKEW_SECONDS:
        raise unauthenticated("Lifetime validation failed, the token is expired.", state)
    tenant_id = str(claims.get("tid", ""))
    if tenant_id not in state.directories:
        raise unauthenticated("Access token validation failure. Invalid issuer.", state)
    caller = Caller(
        tenant_id=tenant_id,
        app_id=str(claims["appid"]),
        user_id=None if claims.get("idtyp") == "app" else str(claims.get("oid", "")),
        roles=frozenset(claims.get("roles", [])),
        scopes=frozenset(str(claims.get("scp", "")).split()),
        issued_at=float(claims.get("iat", 0)),
    )
    if _revoked(graph_context(state).revocations, caller):
        raise unauthenticated(
            "Continuous access evaluation resulted in challenge with result: InteractionRequired and code: "
            "TokenIssuedBeforeRevocationTimestamp",
            state,
        )
    return caller


def _claims(state: State, token: str) -> dict[str, Any]:
    """What the token says, when this emulator issued it (a JWT it signed, or one of its opaque tokens)."""
    claims = state.issued_claims(token)
    if claims is None:
        raise unauthenticated("Access token validation failure.", state)
    return claims


def _revoked(revocations: Iterable[Revocation], caller: Caller) -> bool:
    return any(
        r.tenant_id == caller.tenant_id and r.client_id in (None, caller.app_id) and caller.issued_at < r.before
        for r in revocations
    )


# --- per-state extensions: the stores of the Graph services -------------------------------------------------

T = TypeVar("T")
_extensions: weakref.WeakKeyDictionary[State, dict[Callable[[State], Any], Any]] = weakref.WeakKeyDictionary()
_extensions_lock = threading.Lock()


def state_extension(state: State, factory: Callable[[State], T]) -> T:
    """The ``factory(state)`` object of this emulator state, built on first use and again after each reset.

    Graph services keep their data (directory, drives, printers) here without widening ``State``; a reset drops
    them all, so they are rebuilt from the seed the next time they are used.
    """
    with _extensions_lock:
        slots = _extensions.get(state)
        if slots is None:
            slots = _extensions[state] = {}
            state.on_reset.append(slots.clear)
        if factory not in slots:
            slots[factory] = factory(state)
        extension: T = slots[factory]
        return extension


class GraphContext:
    """What every Graph service shares: the opaque state tokens and the access-token revocations."""

    def __init__(self, state: State) -> None:
        # A token minted before a reset (or by another emulator process) names a sync state that no longer exists.
        self.generation = secrets.token_hex(4)
        self.revocations: list[Revocation] = []


def graph_context(state: State) -> GraphContext:
    return state_extension(state, GraphContext)


# --- opaque state tokens ($skiptoken, $deltatoken) -----------------------------------------------------------

_TOKEN_KEY = secrets.token_bytes(32)
_TAG_BYTES = 16


class TokenInvalid(Exception):
    """The token cannot be read at all (garbage)."""


class TokenStale(Exception):
    """The token is authentic but names a state this emulator no longer has (another process, or a reset)."""


def token_encode(state: State, payload: Mapping[str, Any]) -> str:
    """An opaque, tamper-evident token carrying ``payload`` (clients must not read it, like Graph's)."""
    data = zlib.compress(json.dumps({**payload, "g": graph_context(state).generation}, separators=(",", ":")).encode())
    tag = hmac.new(_TOKEN_KEY, data, hashlib.sha256).digest()[:_TAG_BYTES]
    return base64.urlsafe_b64encode(tag + data).rstrip(b"=").decode()


def token_decode(state: State, token: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise TokenInvalid(token) from None
    tag, data = raw[:_TAG_BYTES], raw[_TAG_BYTES:]
    if len(raw) <= _TAG_BYTES:
        raise TokenInvalid(token)
    if not hmac.compare_digest(tag, hmac.new(_TOKEN_KEY, data, hashlib.sha256).digest()[:_TAG_BYTES]):
        raise TokenStale(token)
    payload: dict[str, Any] = json.loads(zlib.decompress(data))
    if payload.pop("g", None) != graph_context(state).generation:
        raise TokenStale(token)
    return payload


# --- requests and responses ----------------------------------------------------------------------------------


class GraphJSONResponse(JSONResponse):
    media_type = ODATA_JSON


@dataclass
class GraphRequest:
    """One authenticated Graph request, with Graph's query options and response helpers."""

    request: Request
    state: State
    caller: Caller
    request_id: str

    @property
    def client_request_id(self) -> str:
        return self.request.headers.get("client-request-id") or self.request_id

    @property
    def base_url(self) -> str:
        """``https://host:port/graph/v1.0`` as the client called it."""
        return f"{self.request.url.scheme}://{self.request.url.netloc}{MOUNT_PATH}/{VERSION}"

    @property
    def path(self) -> str:
        """The path under the version (``/users/delta``), for links back to the same resource."""
        return self.request.url.path.removeprefix(f"{MOUNT_PATH}/{VERSION}")

    def param(self, name: str) -> str | None:
        """A query option; ``$select`` and ``select`` are the same option (Graph accepts both spellings)."""
        value = self.request.query_params.get(name)
        if value is None and name.startswith("$"):
            value = self.request.query_params.get(name[1:])
        return value

    def link(self, path: str, query: Mapping[str, str]) -> str:
        """An absolute Graph URL (nextLink, deltaLink), with ``$`` and ``,`` left readable as Graph writes them."""
        encoded = urlencode(query, safe="$,'()") if query else ""
        return f"{self.base_url}{path}" + (f"?{encoded}" if encoded else "")

    def context(self, fragment: str) -> str:
        return f"{self.base_url}/$metadata#{fragment}"

    def select(self, known: Collection[str], type_name: str) -> tuple[str, ...] | None:
        """The ``$select`` list in Graph's canonical spelling (``id`` first), None when absent.

        Property names are case-insensitive; an unknown one is 400 as Graph answers it.
        """
        raw = self.param("$select")
        if raw is None:
            return None
        return parse_select(raw, known, type_name)

    def top(self, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
        raw = self.param("$top")
        if raw is None:
            return default
        invalid = bad_request(f"Invalid page size specified: '{raw}'. Must be between 1 and {maximum} inclusive.")
        if not raw.isdigit() or not 1 <= int(raw) <= maximum:
            raise invalid
        return int(raw)

    def reject_options(self, names: Iterable[str], where: str) -> None:
        """400 for query options this endpoint does not support (rather than silently ignoring them)."""
        for name in names:
            if self.param(name) is not None:
                raise unsupported_query(f"The query parameter '{name}' is not supported with {where}.")

    def json(self, body: Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        return GraphJSONResponse(dict(body), status_code=status, headers=self.headers(headers))

    def entity(self, collection: str, body: Mapping[str, Any], status: int = 200) -> Response:
        """One entity of ``collection`` as Graph answers it: its ``@odata.context`` first, then its properties."""
        return self.json({"@odata.context": self.context(f"{collection}/$entity"), **body}, status)

    def page(
        self,
        *,
        context: str,
        items: Sequence[Mapping[str, Any]],
        next_link: str | None = None,
        delta_link: str | None = None,
    ) -> Response:
        """A collection page: ``@odata.context``, then the next or delta link, then ``value``."""
        body: dict[str, Any] = {"@odata.context": context}
        if next_link:
            body["@odata.nextLink"] = next_link
        if delta_link:
            body["@odata.deltaLink"] = delta_link
        body["value"] = list(items)
        return self.json(body)

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {
            "request-id": self.request_id,
            "client-request-id": self.client_request_id,
            "OData-Version": "4.0",
            "Cache-Control": "no-cache",
            **(extra or {}),
        }


def parse_select(raw: str, known: Collection[str], type_name: str) -> tuple[str, ...]:
    canonical = {name.lower(): name for name in known}
    chosen: list[str] = ["id"]
    for part in raw.split(","):
        name = part.strip()
        if not name:
            continue
        found = canonical.get(name.lower())
        if found is None:
            raise bad_request(
                "Parsing OData Select and Expand failed: Could not find a property named "
                f"'{name}' on type 'microsoft.graph.{type_name}'."
            )
        if found not in chosen:
            chosen.append(found)
    return tuple(chosen)


def graph_error_response(request: Request, error: GraphError, request_id: str | None = None) -> Response:
    state = emulator_state(request)
    request_id = request_id or str(uuid.uuid4())
    client_request_id = request.headers.get("client-request-id") or request_id
    body = error_body(
        error.code,
        error.message,
        request_id=request_id,
        client_request_id=client_request_id,
        moment=datetime.fromtimestamp(state.now(), tz=UTC),
    )
    headers = {"request-id": request_id, "client-request-id": client_request_id, **error.headers}
    return GraphJSONResponse(body, status_code=error.status, headers=headers)


GraphHandler = Callable[[GraphRequest], Response | Awaitable[Response]]


def graph_route(path: str, handler: GraphHandler, methods: Sequence[str] = ("GET",)) -> Route:
    """A Graph endpoint: the bearer token is checked before ``handler`` runs; ``GraphError`` becomes Graph's JSON."""

    async def endpoint(request: Request) -> Response:
        state = emulator_state(request)
        request_id = str(uuid.uuid4())
        try:
            graph_request = GraphRequest(request, state, authenticate(state, request), request_id)
            result = handler(graph_request)
            return await result if inspect.isawaitable(result) else result
        except GraphError as error:
            return graph_error_response(request, error, request_id)

    return Route(path, endpoint, methods=list(methods))


async def _unknown_segment(request: Request) -> Response:
    segment = request.path_params.get("path", "").split("/")[0] or VERSION
    return graph_error_response(request, bad_request(f"Resource not found for the segment '{segment}'."))


def graph_mount(routes: Sequence[BaseRoute]) -> Mount:
    """``/graph/v1.0/...`` with ``routes``; any other path answers as Graph does for an unknown segment."""
    return Mount(
        MOUNT_PATH,
        routes=[
            Mount(f"/{VERSION}", routes=[*routes, Route("/{path:path}", _unknown_segment, methods=["GET", "POST"])]),
            Route("/{path:path}", _unknown_segment, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ],
    )
