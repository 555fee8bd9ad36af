"""Shared response helpers: Entra's JSON error body and form parsing."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import unquote_plus

from starlette.requests import Request
from starlette.responses import JSONResponse

from m365_emulator.errors import AadError
from m365_emulator.state import State

NO_STORE = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache", "Expires": "-1"}


def emulator_state(request: Request) -> State:
    state: State = request.app.state.emulator
    return state


def correlation_id(request: Request) -> str | None:
    return request.headers.get("client-request-id")


def json_response(
    body: dict[str, Any], *, request: Request, status: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    merged = dict(NO_STORE)
    if cid := correlation_id(request):
        merged["client-request-id"] = cid
    merged.update(headers or {})
    return JSONResponse(body, status_code=status, headers=merged)


def error_response(request: Request, error: AadError, *, headers: dict[str, str] | None = None) -> JSONResponse:
    state = emulator_state(request)
    body = error.body(moment=state.clock.utcnow(), correlation_id=correlation_id(request), error_base=state.https_base)
    merged = {"x-ms-request-id": body["trace_id"], **(headers or {})}
    return json_response(body, request=request, status=error.status, headers=merged)


async def form_fields(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """HTTP Basic client authentication (RFC 6749 §2.3.1: both parts are form-urlencoded)."""
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip()).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (unquote_plus(user), unquote_plus(password)) if sep else None
