"""``/_control/graph/...``: change the directories behind Graph, and steer delta tokens and access tokens.

Users and groups are named by object id or user principal name (users) / object id or display name (groups);
``tenant_id`` is a directory's GUID or one of its domains. Properties use Graph's names (``displayName``,
``accountEnabled``, ``onPremisesExtensionAttributes``...), plus ``password`` for signing in at the emulator.
See docs/emulator.md for the list, and ``m365_emulator.testing.EmulatorControl`` for the Python helpers.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.routing import Route

from m365_emulator.control import ControlError, Handler, control_route, guarded, required_text
from m365_emulator.graph.base import Revocation, graph_context
from m365_emulator.graph.directory_store import (
    DirectoryError,
    DirectoryStore,
    TenantDirectory,
    directory_store,
)
from m365_emulator.graph.generator import directory_generate
from m365_emulator.graph.objects import USER_PROPERTIES, group_json, user_json
from m365_emulator.state import State

_RESERVED = ("tenant_id", "user", "group", "members", "permanent")


def _tenant(state: State, payload: dict[str, Any]) -> tuple[DirectoryStore, TenantDirectory]:
    tenant_id = required_text(payload, "tenant_id")
    store = directory_store(state)
    return store, store.tenant(tenant_id)


def _fields(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k not in _RESERVED}


def _user_view(store: DirectoryStore, tenant: TenantDirectory, object_id: str) -> dict[str, Any]:
    user = store.state.users.get(object_id)
    if user is not None:
        return {**user_json(user, tuple(USER_PROPERTIES)), "deleted": False}
    deleted = tenant.deleted_users[object_id]
    return {**user_json(deleted.user, tuple(USER_PROPERTIES)), "deleted": True, "deletedAt": deleted.deleted_at}


# --- users ------------------------------------------------------------------------------------------------------


def user_add(state: State, payload: dict[str, Any]) -> dict[str, Any]:
    store, tenant = _tenant(state, payload)
    fields = _fields(payload)
    if "id" in payload:
        fields["id"] = payload["id"]
    user = store.user_create(tenant, fields)
    return _user_view(store, tenant, user.object_id)


def user_update(state: State, payload: dict[str, Any]) -> dict[str, Any]:
    store, tenant = _tenant(state, payload)
    reference = required_text(payload, "user")
    changed = store.user_update(tenant, reference, _fields(payload))
    user = store.require_user(tenant, payload.get("userPrincipalName", reference))
    return {**_user_view(store, tenant, user.object_id), "changed": changed}


def user_delete(state: State, payload: dict[str, Any]) -> dict[str, Any]:
    store, tenant = _tenant(state, payload)
    permanent = payload.get("permanent") in (True, "true", "1", 1)
    object_id = store.user_delete(tenant, required_text(payload, "user"), permanent=permanent)
    return {"id": object_id, "permanent": permanent}


def user_restore(state: State, payload: dict[str, Any]) -> dict[str, Any]:
    store, tenant = _tenant(state, payload)
    user = store.user_restore(tenant, required_text(payload, "user"))
    return _user_view(store, tenant, user.object_id)


def users(state: State, payload: dict[str, Any]) -> dict[str, Any]:
    """The directory's users (``limit``, default 1000) with every property, and the soft-deleted ones."""
    store, tenant = _tenant(state, payload)
    limit = int(payload.get("limit", 1000))
    active = [i for i in tenant.user_ids if i in state.users]
    shown = [_user_view(store, tenant, i) for i in active[:limit]]
    deleted = [_user_view(store, tenant, i) for i in list(tenant.deleted_users)[:limit]]
    return {"count": len(active), "users": shown, "deleted": deleted}


# --- groups -----------------------------------------------------------------------------------------------------


def _group_view(store: DirectoryStore, tenant: TenantDirectory, reference: str) -> dict[str, Any]:
    group = store.group(tenant, reference)
    return {**group_json(group, None), "members": list(group.members)}


def group_add(state: State, payload: dict[str, Any]) -> dict[str, Any]:
    store, tenant = _tenant(state, payload)
    fields = _fields(payload)
    fields["members"] = payload.get("members", [])
    group = store.group_create(tenant, fields)
    return _group_view(store, tenant, group.object_id)


def group_update(state: State, payload: dict[str, Any]) -> dict[str, Any]:
    store, tenant = _tenant(state, payload)
    reference = required_text(payload, "group")
    group = store.group(tenant, reference)
    changed = store.group_update(tenant, group.object_id, _fields(payload))
    return {**_group_view(store, tenant, group.object_id), "changed": changed}


def group_delete(state: State, payload: dict[str, Any]) -> dict[str, Any]:
    store, tenant = _tenant(state, payload)
    return {"id": store.group_delete(tenant, required_text(payload, "group"))}


def members_add(state: State, payload: dict[str, Any]) -> dict[str, Any]:
    store, tenant = _tenant(state, payload)
    added = store.members_add(tenant, required_text(payload, "group"), [str(m) for m in payload.get("members", [])])
    return {"added": added}


def members_remove(state: State, payload: dict[str, Any]) -> dict[str, Any]:
    store, tenant = _tenant(state, payload)
    members = [str(m) for m in payload.get("members", [])]
    removed = store.members_remove(tenant, required_text(payload, "group"), members)
    return {"removed": removed}


def groups(state: State, payload: dict[str, Any]) -> list[dict[str, Any]]:
    _, tenant = _tenant(state, payload)
    return [
        {**group_json(g, None), "memberCount": len(g.members)}
        for g in (tenant.groups[i] for i in tenant.group_ids if i in tenant.groups)
    ]


def group(state: State, payload: dict[str, Any]) -> dict[str, Any]:
    store, tenant = _tenant(state, payload)
    return _group_view(store, tenant, required_text(payload, "group"))


# --- a directory of any size --------------------------------------------------------------------------------------


def generate(state: State, payload: dict[str, Any]) -> dict[str, Any]:
    store, tenant = _tenant(state, payload)
    started = time.perf_counter()
    generated = directory_generate(
        store,
        tenant,
        users=int(payload.get("users", 0)),
        groups=int(payload.get("groups", 0)),
        seed=int(payload.get("seed", 1)),
    )
    return {**generated.as_json(), "seconds": round(time.perf_counter() - started, 3)}


# --- delta and access tokens --------------------------------------------------------------------------------------


def options(state: State, payload: dict[str, Any]) -> dict[str, int]:
    """Read, or change (POST), how delta pages are cut and how long delta tokens live (reset restores them)."""
    current = directory_store(state).options
    names = {"delta_page_size": "page_size", "delta_members_per_page": "members_per_page"}
    names["delta_token_lifetime"] = "token_lifetime"
    for key, attribute in names.items():
        if payload.get(key) is not None:
            value = int(payload[key])
            if value < 1:
                raise ControlError(f"{key} must be at least 1")
            setattr(current, attribute, value)
    return current.as_json()


def expire_delta_tokens(state: State, payload: dict[str, Any]) -> dict[str, Any]:
    """Every delta and skip token issued so far in the directory answers 400 syncStateNotFound from now on."""
    _, tenant = _tenant(state, payload)
    tenant.tokens_invalid_before = state.now()
    return {"tenant_id": tenant.tenant_id, "invalid_before": tenant.tokens_invalid_before}


def require_resync(state: State, payload: dict[str, Any]) -> dict[str, Any]:
    """The next ``count`` delta requests with a token answer 410 resyncRequired with a ``Location``."""
    _, tenant = _tenant(state, payload)
    tenant.resync_pending = int(payload.get("count", 1))
    return {"tenant_id": tenant.tenant_id, "resync_pending": tenant.resync_pending}


def revoke_access_tokens(state: State, payload: dict[str, Any]) -> dict[str, Any]:
    """Graph refuses (401) the access tokens issued until now in a directory, to one app or to all of them."""
    _, tenant = _tenant(state, payload)
    client_id = str(payload["client_id"]).lower() if payload.get("client_id") else None
    # Tokens carry whole seconds (iat). The clock moves to the next whole second, so that every token issued
    # before now is older than the cut and every token issued after is not.
    with state.lock:
        now = state.now()
        before = float(int(now) + 1)
        state.clock.advance(before - now)
        graph_context(state).revocations.append(Revocation(tenant.tenant_id, client_id, before))
    return {"tenant_id": tenant.tenant_id, "client_id": client_id, "before": before}


def _route(path: str, handler: Handler, method: str = "POST") -> Route:
    return control_route(f"graph/{path}", guarded(handler, DirectoryError), method)


routes = [
    _route("users", users, "GET"),
    _route("users", user_add),
    _route("users/update", user_update),
    _route("users/delete", user_delete),
    _route("users/restore", user_restore),
    _route("groups", groups, "GET"),
    _route("groups", group_add),
    _route("group", group, "GET"),
    _route("groups/update", group_update),
    _route("groups/delete", group_delete),
    _route("groups/members/add", members_add),
    _route("groups/members/remove", members_remove),
    _route("generate", generate),
    _route("options", options, "GET"),
    _route("options", options),
    _route("delta/expire", expire_delta_tokens),
    _route("delta/resync", require_resync),
    _route("tokens/revoke", revoke_access_tokens),
]
