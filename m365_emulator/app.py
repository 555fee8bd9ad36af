"""The Starlette application: Microsoft's paths, the browser pages, introspection and the control API."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from m365_emulator import control, discovery, dovecot, graph, oauth, pages, smtp
from m365_emulator.middleware import EmulatorMiddleware
from m365_emulator.responses import emulator_state, form_fields
from m365_emulator.state import State


async def introspect(request: Request) -> Response:
    """RFC 7662-style introspection for Dovecot's oauth2 passdb (``introspection_mode = post``)."""
    state = emulator_state(request)
    token = (await form_fields(request)).get("token", "")
    if protocol := request.query_params.get("protocol"):  # Dovecot's IMAP/POP3 sign-ins (m365_emulator.dovecot)
        mailbox = request.query_params.get("mailbox") or None
        return JSONResponse(dovecot.introspection(state, token, protocol=protocol, mailbox=mailbox))
    claims = state.access_token_claims(token) if token else None
    if claims is None:
        return JSONResponse({"active": False})
    return JSONResponse(
        {
            "active": True,
            "username": claims.get("upn"),
            "aud": claims.get("aud"),
            "scope": claims.get("scp") or " ".join(claims.get("roles", [])),
            "tid": claims.get("tid"),
            "oid": claims.get("oid"),
            "client_id": claims.get("appid"),
            "exp": claims.get("exp"),
        }
    )


def build_app(state: State) -> EmulatorMiddleware:
    routes = [
        Route("/common/discovery/instance", discovery.instance_discovery, methods=["GET"]),
        Route("/{tenant}/v2.0/.well-known/openid-configuration", discovery.openid_configuration, methods=["GET"]),
        Route("/{tenant}/discovery/v2.0/keys", discovery.keys, methods=["GET"]),
        Route("/{tenant}/oauth2/v2.0/token", oauth.token, methods=["POST"]),
        Route("/{tenant}/oauth2/v2.0/devicecode", oauth.devicecode, methods=["POST"]),
        Route("/introspect", introspect, methods=["POST"]),
        *pages.routes,
        *control.routes,
        *dovecot.routes,
        *smtp.routes,
        *graph.routes,
    ]
    app = Starlette(routes=routes)
    app.state.emulator = state
    return EmulatorMiddleware(app, state)
