"""Graph's directory API: users, groups, their members, and their delta queries.

| path | permissions (application / delegated) |
|---|---|
| ``/users``, ``/users/{id or UPN}``, ``/users/delta`` | ``User.Read.All`` (or ``Directory.Read.All``...) |
| ``/groups``, ``/groups/{id}``, ``/groups/delta`` | ``Group.Read.All``, ``GroupMember.Read.All`` (or ...) |
| ``/groups/{id}/members`` | ``GroupMember.Read.All``, ``Group.Read.All`` |
| ``/me`` | delegated only: ``User.Read`` |
| ``/organization`` | ``Organization.Read.All``, ``Directory.Read.All``; delegated ``User.Read`` |

Without a permission to read users, ``/groups/{id}/members`` shows member users by id and type only.

Lists page with ``$top`` (1-999, default 100) and ``@odata.nextLink``; ``$select`` and a small ``$filter``
(``odata.py``) apply. Delta queries take no ``$top`` (the emulator cuts pages, see ``delta.py``); their tokens expire
after 7 days on the emulator clock (400 ``syncStateNotFound``), and the control API can expire them now or make the
next one answer 410 ``resyncRequired`` with a ``Location`` to start again from.

References:
- List users https://learn.microsoft.com/graph/api/user-list
- Get user https://learn.microsoft.com/graph/api/user-get
- List groups https://learn.microsoft.com/graph/api/group-list
- List group members https://learn.microsoft.com/graph/api/group-list-members
- user: delta https://learn.microsoft.com/graph/api/user-delta
- group: delta https://learn.microsoft.com/graph/api/group-delta
- delta query overview (token lifetime, 410 synchronization reset) https://learn.microsoft.com/graph/delta-query-overview
- error codes (syncStateNotFound, resyncRequired) https://learn.microsoft.com/graph/errors
- Get organization https://learn.microsoft.com/graph/api/organization-get
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any

from starlette.responses import Response

from m365_emulator.graph import odata
from m365_emulator.graph.base import (
    GraphError,
    GraphRequest,
    Permissions,
    TokenInvalid,
    TokenStale,
    bad_request,
    graph_route,
    not_found,
    token_decode,
    token_encode,
)
from m365_emulator.graph.delta import CHANGES, GROUPS, INITIAL, USERS, DeltaPosition, DeltaQuery, delta_page
from m365_emulator.graph.directory_store import DirectoryStore, Group, TenantDirectory, directory_store
from m365_emulator.graph.objects import (
    GROUP_PROPERTIES,
    GROUP_TYPE,
    MEMBERS,
    USER_PROPERTIES,
    USER_TYPE,
    group_json,
    user_json,
)
from m365_emulator.seed import User

_READ_DIRECTORY = ("Directory.Read.All", "Directory.ReadWrite.All")
USERS_READ = Permissions.of(
    application=("User.Read.All", "User.ReadWrite.All", *_READ_DIRECTORY),
    delegated=("User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All", *_READ_DIRECTORY),
)
GROUPS_READ = Permissions.of(
    application=("GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All", *_READ_DIRECTORY),
    delegated=("GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All", *_READ_DIRECTORY),
)
SIGNED_IN_USER = Permissions.of(delegated=("User.Read", "User.ReadWrite", "User.ReadBasic.All", "User.Read.All"))
ORGANIZATION_READ = Permissions.of(
    application=("Organization.Read.All", "Organization.ReadWrite.All", *_READ_DIRECTORY),
    delegated=("User.Read", "Organization.Read.All", *_READ_DIRECTORY),
)
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_NOT_ON_LISTS = ("$skip", "$orderby", "$search", "$expand", "$count")
_NOT_ON_DELTA = ("$top", "$orderby", "$skip", "$search", "$count")


def _tenant(req: GraphRequest) -> tuple[DirectoryStore, TenantDirectory]:
    store = directory_store(req.state)
    return store, store.tenants[req.caller.tenant_id]


# --- users ------------------------------------------------------------------------------------------------------


def users_list(req: GraphRequest) -> Response:
    req.caller.require(USERS_READ)
    store, tenant = _tenant(req)
    select = req.select(USER_PROPERTIES, "user")
    users = store.state.users

    def candidates(position: int) -> Iterator[tuple[int, User]]:
        for index in range(position, len(tenant.user_ids)):
            user = users.get(tenant.user_ids[index])
            if user is not None:
                yield index, user

    return _list_page(req, "users", candidates, USER_PROPERTIES, "User", lambda u: user_json(u, select), select)


def user_get(req: GraphRequest) -> Response:
    store, tenant = _tenant(req)
    reference = req.request.path_params["user"]
    user = store.user(tenant, reference)
    if not (req.caller.holds(USERS_READ) or (user is not None and req.caller.user_id == user.object_id)):
        req.caller.require(USERS_READ)
    if user is None:
        raise not_found(reference)
    select = req.select(USER_PROPERTIES, "user")
    return req.json({"@odata.context": req.context(_entity("users", select)), **user_json(user, select)})


def me(req: GraphRequest) -> Response:
    if req.caller.app_only:
        raise bad_request("/me request is only valid with delegated authentication flow.")
    req.caller.require(SIGNED_IN_USER)
    store, tenant = _tenant(req)
    user = store.user(tenant, req.caller.user_id or "")
    if user is None:
        raise not_found(req.caller.user_id or "me")
    select = req.select(USER_PROPERTIES, "user")
    return req.json({"@odata.context": req.context(_entity("users", select)), **user_json(user, select)})


# --- groups -----------------------------------------------------------------------------------------------------


def groups_list(req: GraphRequest) -> Response:
    req.caller.require(GROUPS_READ)
    _, tenant = _tenant(req)
    select = req.select(GROUP_PROPERTIES, "group")

    def candidates(position: int) -> Iterator[tuple[int, Group]]:
        for index in range(position, len(tenant.group_ids)):
            group = tenant.groups.get(tenant.group_ids[index])
            if group is not None:
                yield index, group

    return _list_page(req, "groups", candidates, GROUP_PROPERTIES, "Group", lambda g: group_json(g, select), select)


def group_get(req: GraphRequest) -> Response:
    req.caller.require(GROUPS_READ)
    _, tenant = _tenant(req)
    group = _group(req, tenant)
    select = req.select(GROUP_PROPERTIES, "group")
    return req.json({"@odata.context": req.context(_entity("groups", select)), **group_json(group, select)})


def group_members(req: GraphRequest) -> Response:
    req.caller.require(GROUPS_READ)
    store, tenant = _tenant(req)
    group = _group(req, tenant)
    select = req.select({**USER_PROPERTIES, **GROUP_PROPERTIES}, "directoryObject")
    # Without a permission to read users, Graph shows member users as their id and type only.
    sees_users = req.caller.holds(USERS_READ)
    users = store.state.users

    def candidates(position: int) -> Iterator[tuple[int, User | Group]]:
        for index, member_id in group.members.positions(position):
            member = users.get(member_id) or tenant.groups.get(member_id)
            if member is not None:
                yield index, member

    def render(member: User | Group) -> dict[str, Any]:
        if isinstance(member, Group):
            return {"@odata.type": GROUP_TYPE, **group_json(member, select)}
        return {"@odata.type": USER_TYPE, **(user_json(member, select) if sees_users else {"id": member.object_id})}

    properties = {**USER_PROPERTIES, **GROUP_PROPERTIES}
    return _list_page(req, "directoryObjects", candidates, properties, "DirectoryObject", render, None)


def _group(req: GraphRequest, tenant: TenantDirectory) -> Group:
    reference = req.request.path_params["group"]
    if not _GUID.match(reference):
        raise bad_request(f"Invalid object identifier '{reference}'.", code="Request_BadRequest")
    group = tenant.groups.get(reference.lower())
    if group is None:
        raise not_found(reference)
    return group


# --- organization -----------------------------------------------------------------------------------------------


def organization(req: GraphRequest) -> Response:
    req.caller.require(ORGANIZATION_READ)
    directory = req.state.directories[req.caller.tenant_id]
    domains = [
        {
            "capabilities": "Email, OfficeCommunicationsOnline",
            "isDefault": index == 0,
            "isInitial": name.endswith(".onmicrosoft.com"),
            "name": name,
            "type": "Managed",
        }
        for index, name in enumerate(directory.domains)
    ]
    body = {
        "id": directory.tenant_id,
        "displayName": directory.display_name,
        "tenantType": "AAD",
        "verifiedDomains": domains,
    }
    return req.page(context=req.context("organization"), items=[body])


# --- lists ------------------------------------------------------------------------------------------------------


def _list_page(
    req: GraphRequest,
    collection: str,
    candidates: Callable[[int], Iterator[tuple[int, Any]]],
    properties: Mapping[str, Any],
    type_name: str,
    render: Callable[[Any], dict[str, Any]],
    select: tuple[str, ...] | None,
) -> Response:
    """One page of a list: from the skiptoken's position, the next ``$top`` objects the filter lets through."""
    req.reject_options(_NOT_ON_LISTS, "this request")
    top = req.top()
    raw_filter = req.param("$filter")
    node = odata.parse_filter(raw_filter, properties, type_name) if raw_filter else None
    kind = f"list:{req.path}"
    position = _list_position(req, kind)
    items: list[dict[str, Any]] = []
    next_position: int | None = None
    for index, item in candidates(position):
        if len(items) == top:
            next_position = index
            break
        if node is None or odata.matches(node, partial(_property, item, properties)):
            items.append(render(item))
    next_link = None
    if next_position is not None:
        query = {k: v for k, v in req.request.query_params.items() if k.lstrip("$") != "skiptoken"}
        token = token_encode(req.state, {"k": kind, "t": req.caller.tenant_id, "p": next_position})
        next_link = req.link(req.path, {**query, "$skiptoken": token})
    context = req.context(f"{collection}({','.join(select)})" if select else collection)
    return req.page(context=context, items=items, next_link=next_link)


def _property(item: Any, properties: Mapping[str, Callable[[Any], Any]], name: str) -> Any:
    getter = properties.get(name)
    try:
        return getter(item) if getter is not None else None
    except AttributeError:  # a user property asked of a group member, or the reverse
        return None


def _list_position(req: GraphRequest, kind: str) -> int:
    token = req.param("$skiptoken")
    if token is None:
        return 0
    try:
        payload = token_decode(req.state, token)
    except (TokenInvalid, TokenStale, ValueError):
        raise _page_token_invalid() from None
    if payload.get("k") != kind or payload.get("t") != req.caller.tenant_id:
        raise _page_token_invalid()
    return int(payload["p"])


def _page_token_invalid() -> GraphError:
    return bad_request("The specified page token value is invalid or has expired.", code="Request_BadRequest")


def _entity(collection: str, select: tuple[str, ...] | None) -> str:
    return f"{collection}({','.join(select)})/$entity" if select else f"{collection}/$entity"


# --- delta ------------------------------------------------------------------------------------------------------


def users_delta(req: GraphRequest) -> Response:
    req.caller.require(USERS_READ)
    return _delta(req, USERS)


def groups_delta(req: GraphRequest) -> Response:
    req.caller.require(GROUPS_READ)
    return _delta(req, GROUPS)


def sync_state_not_found() -> GraphError:
    return bad_request(
        "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
        code="syncStateNotFound",
    )


def _delta(req: GraphRequest, collection: str) -> Response:
    store, tenant = _tenant(req)
    req.reject_options(_NOT_ON_DELTA if collection == GROUPS else (*_NOT_ON_DELTA, "$expand"), "delta")
    skiptoken, deltatoken = req.param("$skiptoken"), req.param("$deltatoken")
    if deltatoken == "latest":
        # "Sync from now": no objects, a deltaLink for the changes from this moment.
        query = _delta_query(req, collection)
        since = tenant.start_tracking()
        return _delta_response(req, query, [], DeltaPosition(CHANGES, since, since, (since, 0)), done=True)
    if skiptoken or deltatoken:
        payload = _delta_token(req, tenant, collection, skiptoken or deltatoken or "")
        query = DeltaQuery.from_json(payload)
        if deltatoken:
            if req.param("$select") is not None:  # a deltaLink may change what it tracks from now on
                query = _delta_query(req, collection, ids=query.ids)
            since = int(payload["a"])
            position = DeltaPosition(CHANGES, since, tenant.start_tracking(), (since, 0))
        else:
            position = DeltaPosition.from_json(payload)
    else:
        query = _delta_query(req, collection)
        position = DeltaPosition(INITIAL, 0, tenant.start_tracking(), (0, 0))
    page = delta_page(store, tenant, query, position)
    if page.next_position is not None:
        return _delta_response(req, query, page.items, page.next_position, done=False)
    return _delta_response(req, query, page.items, position, done=True)


def _delta_query(req: GraphRequest, collection: str, ids: tuple[str, ...] | None = None) -> DeltaQuery:
    if collection == USERS:
        select = req.select(USER_PROPERTIES, "user")
        members = False
    else:
        select = req.select({**GROUP_PROPERTIES, MEMBERS: None}, "group")
        expand = (req.param("$expand") or "").strip().lower()
        if expand not in ("", MEMBERS):
            raise bad_request(f"Expansion of '{expand}' is not supported with delta.", code="Request_UnsupportedQuery")
        members = select is None or MEMBERS in select or expand == MEMBERS
    raw_filter = req.param("$filter")
    if raw_filter:
        properties = USER_PROPERTIES if collection == USERS else GROUP_PROPERTIES
        ids = tuple(odata.ids_filter(odata.parse_filter(raw_filter, properties, collection[:-1])))
    return DeltaQuery(collection, req.caller.tenant_id, select, members, ids)


def _delta_token(req: GraphRequest, tenant: TenantDirectory, collection: str, token: str) -> dict[str, Any]:
    """The payload of a skiptoken or deltatoken; expired or reset tokens are 400, a pending resync is 410."""
    try:
        payload = token_decode(req.state, token)
    except TokenStale:
        raise sync_state_not_found() from None
    except (TokenInvalid, ValueError):
        raise bad_request("The delta token is invalid.", code="Request_BadRequest") from None
    if payload.get("k") != collection or payload.get("t") != req.caller.tenant_id:
        raise bad_request("The delta token is invalid.", code="Request_BadRequest")
    issued_at = float(payload.get("at", 0))
    options = directory_store(req.state).options
    if req.state.now() - issued_at > options.token_lifetime or issued_at < tenant.tokens_invalid_before:
        raise sync_state_not_found()
    if tenant.resync_pending > 0:
        tenant.resync_pending -= 1
        query = DeltaQuery.from_json(payload)
        raise GraphError(
            410,
            "resyncRequired",
            "Resync required. The delta token is no longer valid and the application must reset the sync state.",
            {"Location": _initial_link(req, query)},
        )
    return payload


def _initial_link(req: GraphRequest, query: DeltaQuery) -> str:
    """The first request of a round with the same options (a 410's ``Location``)."""
    params: dict[str, str] = {}
    if query.select is not None:
        params["$select"] = ",".join(query.select)
    elif query.collection == GROUPS and query.members:
        params["$expand"] = MEMBERS
    if query.ids is not None:
        params["$filter"] = " or ".join(f"id eq '{i}'" for i in query.ids)
    return req.link(f"/{query.collection}/delta", params)


def _delta_response(
    req: GraphRequest, query: DeltaQuery, items: list[dict[str, Any]], position: DeltaPosition, *, done: bool
) -> Response:
    now = req.state.now()
    path = f"/{query.collection}/delta"
    if done:
        token = token_encode(req.state, {**query.as_json(), "a": position.upto, "at": now})
        links = {"delta_link": req.link(path, {"$deltatoken": token})}
    else:
        token = token_encode(req.state, {**query.as_json(), **position.as_json(), "at": now})
        links = {"next_link": req.link(path, {"$skiptoken": token})}
    select = query.select
    context = req.context(f"{query.collection}({','.join(select)})" if select else query.collection)
    return req.page(context=context, items=items, **links)


routes = [
    graph_route("/users", users_list),
    graph_route("/users/delta", users_delta),
    graph_route("/users/microsoft.graph.delta", users_delta),
    graph_route("/users/{user}", user_get),
    graph_route("/me", me),
    graph_route("/groups", groups_list),
    graph_route("/groups/delta", groups_delta),
    graph_route("/groups/microsoft.graph.delta", groups_delta),
    graph_route("/groups/{group}", group_get),
    graph_route("/groups/{group}/members", group_members),
    graph_route("/organization", organization),
]
