"""Minting tokens: access tokens (JWTs clients treat as opaque), id tokens, client_info and the JSON body."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

from m365_emulator import errors
from m365_emulator.scopes import GRAPH, ScopeRequest
from m365_emulator.seed import App, User
from m365_emulator.state import State

ID_TOKEN_LIFETIME = 3600
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


def b64url_json(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).rstrip(b"=").decode()


def client_info(user: User) -> str:
    return b64url_json({"uid": user.object_id, "utid": user.directory})


def pairwise_subject(user: User, app: App) -> str:
    digest = hashlib.sha256(f"{user.object_id}:{app.client_id}".encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()[:43]


def single_resource(request: ScopeRequest) -> None:
    if len(request.resources) > 1:
        raise errors.scopes_of_several_resources(request.text)


def user_token_response(
    state: State, *, app: App, user: User, request: ScopeRequest, nonce: str | None, with_client_info: bool
) -> dict[str, Any]:
    """The body of a successful delegated grant (protocols.md §1.4): the requested scopes are echoed."""
    single_resource(request)
    now = int(state.now())
    tenant_id = user.directory
    audience = request.permissions[0].audience if request.permissions else GRAPH_APP_ID
    granted = state.granted_scopes(app, tenant_id, user.object_id)
    scp = sorted({full.rpartition("/")[2] for full in granted if full.startswith(_resource_of(request) + "/")})
    access_claims = {
        "aud": audience,
        "iss": state.issuer(tenant_id),
        "iat": now,
        "nbf": now,
        "exp": now + app.access_token_lifetime,
        "tid": tenant_id,
        "oid": user.object_id,
        "sub": pairwise_subject(user, app),
        "upn": user.upn,
        "unique_name": user.upn,
        "preferred_username": user.upn,
        "name": user.display_name,
        "appid": app.client_id,
        "azp": app.client_id,
        "app_displayname": app.display_name,
        "scp": " ".join(scp or sorted(request.oidc)),
        "idtyp": "user",
        "ver": "1.0",
        "uti": secrets.token_urlsafe(16),
    }
    if app.emits_directory_roles:
        access_claims["wids"] = user.wids
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": request.text,
        "expires_in": app.access_token_lifetime,
        "ext_expires_in": app.access_token_lifetime,
        "access_token": state.sign(access_claims),
    }
    if "offline_access" in request.oidc:
        body["refresh_token"] = state.new_refresh_token(
            client_id=app.client_id, user_oid=user.object_id, tenant_id=tenant_id
        ).token
    if "openid" in request.oidc:
        body["id_token"] = id_token(state, app=app, user=user, nonce=nonce, with_email="email" in request.oidc)
    if with_client_info:
        body["client_info"] = client_info(user)
    return body


def _resource_of(request: ScopeRequest) -> str:
    return request.permissions[0].resource if request.permissions else GRAPH


def id_token(state: State, *, app: App, user: User, nonce: str | None, with_email: bool) -> str:
    now = int(state.now())
    claims: dict[str, Any] = {
        "aud": app.client_id,
        "iss": state.issuer(user.directory),
        "iat": now,
        "nbf": now,
        "exp": now + ID_TOKEN_LIFETIME,
        "tid": user.directory,
        "oid": user.object_id,
        "sub": pairwise_subject(user, app),
        "preferred_username": user.upn,
        "name": user.display_name,
        "ver": "2.0",
        "uti": secrets.token_urlsafe(16),
        "rh": "0.A" + secrets.token_urlsafe(24),
    }
    if nonce:
        claims["nonce"] = nonce
    if app.emits_directory_roles:  # the manifest's groupMembershipClaims asks for directory roles
        claims["wids"] = user.wids
    if (with_email or "email" in app.id_token_optional_claims) and user.mail:
        claims["email"] = user.mail
        if app.emits_email_verification:  # Entra sends xms_edov only with an email claim
            claims["xms_edov"] = email_domain_verified(state, user)
    return state.sign(claims)


def email_domain_verified(state: State, user: User) -> bool:
    """Entra's `xms_edov`: the mail attribute (which an administrator may set to any address) is on a domain the
    user's own directory verified; a personal account's address is verified by Microsoft. The emulator's
    directories list verified domains only, and it does not model a guest's home directory."""
    directory = state.directory_of(user)
    if directory.personal:
        return True
    return user.mail.rpartition("@")[2].lower() in directory.domains


def app_token_response(state: State, *, app: App, tenant_id: str, request: ScopeRequest) -> dict[str, Any]:
    """Client credentials: no refresh token, no id token, roles the admin consented to."""
    now = int(state.now())
    permission = request.permissions[0]
    prefix = permission.resource + "/"
    roles = sorted(r.removeprefix(prefix) for r in state.granted_roles(app, tenant_id) if r.startswith(prefix))
    claims: dict[str, Any] = {
        "aud": permission.audience,
        "iss": state.issuer(tenant_id),
        "iat": now,
        "nbf": now,
        "exp": now + app.access_token_lifetime,
        "tid": tenant_id,
        "oid": app.client_id,
        "sub": app.client_id,
        "appid": app.client_id,
        "azp": app.client_id,
        "app_displayname": app.display_name,
        "idtyp": "app",
        "ver": "1.0",
        "uti": secrets.token_urlsafe(16),
    }
    if roles:
        claims["roles"] = roles
    opaque = app.client_id in state.opaque_token_clients
    return {
        "token_type": "Bearer",
        "expires_in": app.access_token_lifetime,
        "ext_expires_in": app.access_token_lifetime,
        "access_token": state.opaque_token(claims) if opaque else state.sign(claims),
    }
