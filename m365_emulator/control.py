"""The control API under ``/_control/``: drive the emulator from tests and the demo (docs/emulator.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from m365_emulator import oauth
from m365_emulator.errors import AadError
from m365_emulator.responses import emulator_state
from m365_emulator.seed import ID_TOKEN_OPTIONAL_CLAIMS, User
from m365_emulator.state import REFRESH_TOKEN_INACTIVITY, Fault, State

Handler = Callable[[State, dict[str, Any]], Any]


class ControlError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        state = emulator_state(request)
        payload: dict[str, Any] = dict(request.query_params)
        if request.method in ("POST", "PUT", "DELETE") and await request.body():
            payload.update(await request.json())
        try:
            result = handler(state, payload)
        except ControlError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except AadError as exc:
            return JSONResponse({"error": exc.description_head, "error_codes": [exc.code]}, status_code=409)
        except LookupError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        return JSONResponse(result if result is not None else {"ok": True})

    return endpoint


def control_route(path: str, handler: Handler, method: str = "POST") -> Route:
    """``/_control/<path>``: every control module's routes (here, m365_emulator/graph/*_control.py) are made so."""
    return Route(f"/_control/{path}", _endpoint(handler), methods=[method])


def guarded(handler: Handler, store_error: type[Exception]) -> Handler:
    """The handler, with its store's refusals (an unknown reference, a conflict) answered as a 400 with the
    store's words."""

    def run(state: State, payload: dict[str, Any]) -> Any:
        try:
            return handler(state, payload)
        except store_error as exc:
            raise ControlError(str(exc)) from None

    return run


def required_text(payload: dict[str, Any], name: str) -> str:
    """A field that names something (a tenant, a user, a printer): missing or empty is the caller's mistake."""
    value = payload.get(name)
    if not value:
        raise ControlError(f"missing field {name!r}")
    return str(value)


def _required(payload: dict[str, Any], name: str) -> Any:
    if payload.get(name) in (None, ""):
        raise ControlError(f"missing field {name!r}")
    return payload[name]


def _user(state: State, upn: str) -> User:
    try:
        return state.user_by_upn(upn)
    except AadError as exc:
        raise LookupError(f"no user {upn}") from exc


def reset(state: State, payload: dict[str, Any]) -> None:
    state.reset()


def device_codes(state: State, payload: dict[str, Any]) -> list[dict[str, Any]]:
    now = state.now()
    return [
        {
            "user_code": d.user_code,
            "client_id": d.client_id,
            "tenant": d.tenant_segment,
            "scope": d.scope,
            "status": "expired" if d.status == "pending" and d.expired(now) else d.status,
            "expires_at": d.issued_at + d.expires_in,
            "interval": d.interval,
        }
        for d in state.device_codes.values()
        if payload.get("all") or (d.status == "pending" and not d.expired(now))
    ]


def approve_device_code(state: State, payload: dict[str, Any]) -> dict[str, Any]:
    user = _user(state, _required(payload, "upn"))
    app = oauth.approve_device_code(state, _required(payload, "user_code"), user)
    return {"ok": True, "client_id": app.client_id, "upn": user.upn}


def decline_device_code(state: State, payload: dict[str, Any]) -> None:
    upn = payload.get("upn")
    oauth.decline_device_code(state, _required(payload, "user_code"), _user(state, upn) if upn else None)


def expire_device_code(state: State, payload: dict[str, Any]) -> None:
    device = state.device_by_user_code(_required(payload, "user_code"))
    if device is None:
        raise LookupError(f"no device code {payload['user_code']}")
    device.expired_by_control = True


def revoke_grant(state: State, payload: dict[str, Any]) -> dict[str, int]:
    user = _user(state, _required(payload, "upn"))
    client_id = str(_required(payload, "client_id")).lower()
    revoked = 0
    with state.lock:
        for refresh in state.refresh_tokens.values():
            if refresh.user_oid == user.object_id and refresh.client_id == client_id and refresh.revoked_at is None:
                refresh.revoked_at = state.now()
                revoked += 1
    return {"revoked": revoked}


def age_refresh_tokens(state: State, payload: dict[str, Any]) -> dict[str, int]:
    seconds = float(payload.get("days", 91)) * 86400
    upn, client_id = payload.get("upn"), payload.get("client_id")
    user_oid = _user(state, upn).object_id if upn else None
    aged = 0
    with state.lock:
        for refresh in state.refresh_tokens.values():
            if (user_oid in (None, refresh.user_oid)) and (client_id in (None, refresh.client_id)):
                refresh.issued_at -= seconds
                aged += 1
    return {"aged": aged, "inactivity_limit_days": REFRESH_TOKEN_INACTIVITY // 86400}


def consents(state: State, payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [consent.as_json(state) for consent in state.consents]


def remove_consent(state: State, payload: dict[str, Any]) -> dict[str, int]:
    client_id = str(_required(payload, "client_id")).lower()
    tenant = state.resolve_tenant(str(_required(payload, "tenant_id")))
    if tenant.directory is None:
        raise ControlError("tenant_id must name a directory")
    return {"removed": state.consent_remove(client_id=client_id, directory=tenant.directory.tenant_id)}


def set_role_lag(state: State, payload: dict[str, Any]) -> dict[str, float]:
    seconds = float(_required(payload, "seconds"))
    if seconds < 0:
        raise ControlError("seconds must not be negative")
    with state.lock:
        state.role_lag = seconds
    return {"seconds": state.role_lag}


def set_opaque_tokens(state: State, payload: dict[str, Any]) -> dict[str, Any]:
    client_id = str(_required(payload, "client_id")).lower()
    if client_id not in state.apps:
        raise LookupError(f"no app {client_id}")
    opaque = payload.get("opaque", True) in (True, "true", "1", 1)
    with state.lock:
        if opaque:
            state.opaque_token_clients.add(client_id)
        else:
            state.opaque_token_clients.discard(client_id)
    return {"client_id": client_id, "opaque": opaque}


def set_id_token_optional_claims(state: State, payload: dict[str, Any]) -> dict[str, Any]:
    """Change an app's manifest optionalClaims.idToken (until the next reset), e.g. an app without xms_edov."""
    client_id = str(_required(payload, "client_id")).lower()
    app = state.apps.get(client_id)
    if app is None:
        raise LookupError(f"no app {client_id}")
    claims = [str(name) for name in payload.get("claims") or []]
    if unknown := [name for name in claims if name not in ID_TOKEN_OPTIONAL_CLAIMS]:
        raise ControlError(f"unknown optional claims {unknown}; known: {list(ID_TOKEN_OPTIONAL_CLAIMS)}")
    with state.lock:
        app.id_token_optional_claims = claims
    return {"client_id": client_id, "claims": claims}


def expire_secret(state: State, payload: dict[str, Any]) -> None:
    client_id = str(_required(payload, "client_id")).lower()
    app = state.apps.get(client_id)
    if app is None:
        raise LookupError(f"no app {client_id}")
    yesterday = state.clock.today().fromordinal(state.clock.today().toordinal() - 1)
    for secret in app.secrets:
        secret.expires = min(secret.expires, yesterday)


def advance_clock(state: State, payload: dict[str, Any]) -> dict[str, float]:
    state.clock.advance(float(_required(payload, "seconds")))
    return {"now": state.now(), "offset": state.clock.offset}


def clock(state: State, payload: dict[str, Any]) -> dict[str, float]:
    return {"now": state.now(), "offset": state.clock.offset}


def inject_fault(state: State, payload: dict[str, Any]) -> None:
    endpoint = str(_required(payload, "endpoint"))
    fault = Fault(
        status=int(payload["status"]) if payload.get("status") else None,
        retry_after=int(payload["retry_after"]) if payload.get("retry_after") is not None else None,
        latency_ms=int(payload["latency_ms"]) if payload.get("latency_ms") else None,
        drop=bool(payload.get("drop", False)),
        count=int(payload.get("count", 1)),
        skip=int(payload.get("skip") or 0),
        lose_response=bool(payload.get("lose_response", False)),
    )
    if not (fault.status or fault.latency_ms or fault.drop or fault.lose_response):
        raise ControlError("a fault needs status, latency_ms, drop or lose_response")
    with state.lock:
        state.faults.setdefault(endpoint, []).append(fault)


def clear_faults(state: State, payload: dict[str, Any]) -> None:
    with state.lock:
        state.faults.clear()


def requests_received(state: State, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The recorded requests (of one endpoint); with `take`, they are also forgotten in the same step, so a
    long run that reads them every few seconds keeps every one (the record holds the last few thousand)."""
    endpoint = payload.get("endpoint")
    with state.lock:
        matched = [r for r in state.requests if endpoint in (None, "", r.endpoint)]
        if payload.get("take"):
            kept = [r for r in state.requests if endpoint not in (None, "", r.endpoint)]
            state.requests.clear()
            state.requests.extend(kept)
        return [r.as_json() for r in matched]


def clear_requests(state: State, payload: dict[str, Any]) -> None:
    with state.lock:
        state.requests.clear()


def set_smtp_auth(state: State, payload: dict[str, Any]) -> dict[str, Any]:
    tenant = state.resolve_tenant(str(_required(payload, "tenant_id")))
    if tenant.directory is None:
        raise ControlError("tenant_id must name a directory")
    tenant.directory.smtp_auth_enabled = bool(_required(payload, "enabled") in (True, "true", "1", 1))
    return {"tenant_id": tenant.directory.tenant_id, "smtp_auth_enabled": tenant.directory.smtp_auth_enabled}


def directories(state: State, payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "tenant_id": d.tenant_id,
            "display_name": d.display_name,
            "domains": d.domains,
            "smtp_auth_enabled": d.smtp_auth_enabled,
        }
        for d in state.directories.values()
    ]


routes = [
    control_route("reset", reset),
    control_route("device-codes", device_codes, "GET"),
    control_route("device-codes/approve", approve_device_code),
    control_route("device-codes/decline", decline_device_code),
    control_route("device-codes/expire", expire_device_code),
    control_route("grants/revoke", revoke_grant),
    control_route("refresh-tokens/age", age_refresh_tokens),
    control_route("consents", consents, "GET"),
    control_route("consents/remove", remove_consent),
    control_route("consents/role-lag", set_role_lag),
    control_route("tokens/opaque", set_opaque_tokens),
    control_route("secrets/expire", expire_secret),
    control_route("apps/optional-claims", set_id_token_optional_claims),
    control_route("clock", clock, "GET"),
    control_route("clock/advance", advance_clock),
    control_route("faults", inject_fault),
    control_route("faults", clear_faults, "DELETE"),
    control_route("requests", requests_received, "GET"),
    control_route("requests", clear_requests, "DELETE"),
    control_route("directories", directories, "GET"),
    control_route("directories/smtp-auth", set_smtp_auth),
]
