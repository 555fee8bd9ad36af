"""``/{tenant}/oauth2/v2.0/token`` (every grant) and ``/{tenant}/oauth2/v2.0/devicecode``."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from m365_emulator import errors
from m365_emulator.errors import AadError
from m365_emulator.responses import basic_credentials, emulator_state, error_response, form_fields, json_response
from m365_emulator.scopes import DEFAULT_PERMISSION, parse_scopes
from m365_emulator.seed import App, User
from m365_emulator.state import AUTH_CODE_LIFETIME, REFRESH_TOKEN_INACTIVITY, State, TenantRef, ms_datetime
from m365_emulator.tokens import app_token_response, single_resource, user_token_response

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# A poll that arrives a little early because of scheduling jitter is not "too fast".
POLL_TOLERANCE_SECONDS = 0.2


@dataclass
class TokenRequest:
    state: State
    tenant: TenantRef
    form: dict[str, str]
    client_id: str
    client_secret: str | None

    def required(self, name: str) -> str:
        return errors.required_parameter(self.form, name)

    @property
    def wants_client_info(self) -> bool:
        return self.form.get("client_info") == "1"


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str | None]:
    basic = basic_credentials(request)
    client_id = form.get("client_id") or (basic[0] if basic else "")
    secret = form.get("client_secret") or (basic[1] if basic else None)
    return client_id, secret


async def token(request: Request) -> Response:
    state = emulator_state(request)
    form = await form_fields(request)
    try:
        tenant = state.resolve_tenant(request.path_params["tenant"])
        grant_type = errors.required_parameter(form, "grant_type")
        grant = GRANTS.get(grant_type)
        if grant is None:
            raise errors.unsupported_grant_type(grant_type)
        client_id, secret = _client_credentials(request, form)
        if not client_id:
            raise errors.missing_parameter("client_id")
        with state.lock:
            body = grant(TokenRequest(state, tenant, form, client_id, secret))
    except AadError as error:
        return error_response(request, error)
    return json_response(body, request=request)


def _active_user(state: State, user_oid: str) -> User:
    user = state.users.get(user_oid)
    if user is None:  # deleted from the directory since the grant
        raise errors.unknown_user(user_oid)
    if not user.enabled:
        raise errors.user_disabled()
    return user


def _authorization_code(req: TokenRequest) -> dict[str, Any]:
    state = req.state
    app = state.app_for_tenant(req.client_id, req.tenant)
    code = state.auth_codes.get(req.required("code"))
    state.authenticate_client(app, req.client_secret, credentials_required=False)
    if code is None:
        raise errors.malformed_request()
    if code.client_id != app.client_id:
        raise errors.grant_client_mismatch()
    if code.redeemed:
        raise errors.code_already_redeemed()
    if state.now() > code.issued_at + AUTH_CODE_LIFETIME:
        raise errors.code_expired()
    redirect_uri = req.form.get("redirect_uri", "")
    if redirect_uri != code.redirect_uri:
        raise errors.redirect_uri_mismatch_at_token(redirect_uri)
    if code.code_challenge and not _pkce_matches(
        code.code_challenge, code.code_challenge_method, req.form.get("code_verifier", "")
    ):
        raise errors.code_verifier_mismatch()
    code.redeemed = True
    user = _active_user(state, code.user_oid)
    scopes = parse_scopes(req.form.get("scope") or code.scope)
    return user_token_response(
        state, app=app, user=user, request=scopes, nonce=code.nonce, with_client_info=req.wants_client_info
    )


def _pkce_matches(challenge: str, method: str, verifier: str) -> bool:
    if not verifier:
        return False
    if method.upper() == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    else:
        expected = verifier
    return secrets.compare_digest(expected, challenge)


def _refresh_token(req: TokenRequest) -> dict[str, Any]:
    state = req.state
    app = state.app_for_tenant(req.client_id, req.tenant)
    presented = req.required("refresh_token")
    state.authenticate_client(app, req.client_secret, credentials_required=False)
    refresh = state.refresh_tokens.get(presented)
    if refresh is None:
        raise errors.malformed_request()
    if refresh.client_id != app.client_id:
        raise errors.grant_client_mismatch()
    if refresh.revoked_at is not None:
        raise errors.grant_revoked(ms_datetime(refresh.issued_at), ms_datetime(refresh.revoked_at))
    if state.now() - refresh.issued_at > REFRESH_TOKEN_INACTIVITY:
        raise errors.refresh_token_inactive(ms_datetime(refresh.issued_at))
    user = _active_user(state, refresh.user_oid)
    scopes = parse_scopes(req.required("scope"))
    single_resource(scopes)
    missing = state.delegated_needed(app, scopes) - state.granted_scopes(app, refresh.tenant_id, user.object_id)
    if missing:
        raise errors.consent_required(app.client_id, app.display_name)
    # Rotation: a new refresh token every time; the presented one keeps working until it ages out.
    return user_token_response(
        state, app=app, user=user, request=scopes, nonce=None, with_client_info=req.wants_client_info
    )


def _client_credentials_grant(req: TokenRequest) -> dict[str, Any]:
    state = req.state
    app = state.app_for_tenant(req.client_id, req.tenant)
    state.authenticate_client(app, req.client_secret, credentials_required=True)
    if req.tenant.directory is None:
        raise errors.no_tenant_information()
    scope_text = req.required("scope")
    scopes = parse_scopes(scope_text)
    if scopes.oidc or len(scopes.permissions) != 1 or scopes.permissions[0].name != DEFAULT_PERMISSION:
        raise errors.client_credentials_need_default(scope_text)
    directory = req.tenant.directory
    if not state.has_service_principal(app, directory.tenant_id):
        raise errors.app_not_found(app.client_id, directory.display_name)
    return app_token_response(state, app=app, tenant_id=directory.tenant_id, request=scopes)


def _device_code_grant(req: TokenRequest) -> dict[str, Any]:
    state = req.state
    app = state.app_for_tenant(req.client_id, req.tenant)
    presented = req.form.get("device_code") or req.required("code")
    state.authenticate_client(app, req.client_secret, credentials_required=False)
    device = state.device_codes.get(presented)
    if device is None or device.client_id != app.client_id:
        raise errors.bad_verification_code()
    now = state.now()
    if device.status == "redeemed":
        raise errors.code_already_redeemed()
    if device.expired(now):
        raise errors.device_code_expired()
    if device.status == "declined":
        raise errors.authorization_declined()
    if device.status == "pending":
        too_soon = device.last_poll_at is not None and (
            now - device.last_poll_at < device.interval - POLL_TOLERANCE_SECONDS
        )
        device.last_poll_at = now
        raise errors.slow_down() if too_soon else errors.authorization_pending()
    assert device.user_oid is not None
    device.status = "redeemed"
    user = _active_user(state, device.user_oid)
    return user_token_response(
        state,
        app=app,
        user=user,
        request=parse_scopes(device.scope),
        nonce=None,
        with_client_info=req.wants_client_info,
    )


GRANTS: dict[str, Callable[[TokenRequest], dict[str, Any]]] = {
    "authorization_code": _authorization_code,
    "refresh_token": _refresh_token,
    "client_credentials": _client_credentials_grant,
    DEVICE_CODE_GRANT: _device_code_grant,
}


async def devicecode(request: Request) -> Response:
    state = emulator_state(request)
    form = await form_fields(request)
    try:
        tenant = state.resolve_tenant(request.path_params["tenant"])
        app = state.app_for_tenant(errors.required_parameter(form, "client_id"), tenant)
        scope = errors.required_parameter(form, "scope")
        single_resource(parse_scopes(scope))
        device = state.new_device_code(app=app, tenant_segment=tenant.segment, scope=scope)
    except AadError as error:
        return error_response(request, error)
    verification_uri = f"{state.http_base}/devicelogin"
    return json_response(
        {
            "user_code": device.user_code,
            "device_code": device.device_code,
            "verification_uri": verification_uri,
            "expires_in": device.expires_in,
            "interval": device.interval,
            "message": f"To sign in, use a web browser to open the page {verification_uri} and enter the code "
            f"{device.user_code} to authenticate.",
        },
        request=request,
    )


def approve_device_code(state: State, device_user_code: str, user: User) -> App:
    """The user finished the device login page (or the control API did it for them): check, consent, approve."""
    device = state.device_by_user_code(device_user_code)
    if device is None:
        raise LookupError(f"no device code {device_user_code}")
    tenant = state.resolve_tenant(device.tenant_segment)
    app = state.app_for_tenant(device.client_id, tenant)
    state.check_user_for(app, tenant, user)
    with state.lock:
        needed = state.delegated_needed(app, parse_scopes(device.scope))
        state.consent_grant(
            client_id=app.client_id, directory=user.directory, principal=user.object_id, scopes=needed, roles=set()
        )
        device.status = "approved"
        device.user_oid = user.object_id
    return app


def decline_device_code(state: State, device_user_code: str, user: User | None) -> None:
    device = state.device_by_user_code(device_user_code)
    if device is None:
        raise LookupError(f"no device code {device_user_code}")
    with state.lock:
        device.status = "declined"
        device.user_oid = user.object_id if user else None
