"""Browser pages: authorize, admin consent, device login, sign-in, consent and logout (protocols.md §1.2, §1.6).

A flow in progress is an ``Interaction`` whose id travels in a hidden form field; the signed-in user is kept in
a session cookie so that a second authorize request skips the form (``prompt=login`` forces it).
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from m365_emulator import errors, html, oauth
from m365_emulator.errors import AadError
from m365_emulator.responses import emulator_state, form_fields
from m365_emulator.scopes import GRAPH, parse_scopes
from m365_emulator.seed import App, User
from m365_emulator.state import Interaction, State, TenantRef
from m365_emulator.tokens import client_info

SESSION_COOKIE = "emu_session"
LEGACY_ADMIN_CONSENT = "_legacy_adminconsent"


# --- responses ------------------------------------------------------------------------------------------


def _error_details(state: State, error: AadError, request: Request) -> str:
    body = error.body(moment=state.clock.utcnow(), correlation_id=None, error_base=state.https_base)
    return (
        f"Request Id: {body['trace_id']}\nCorrelation Id: {body['correlation_id']}\n"
        f"Timestamp: {body['timestamp']}\nMessage: {error.description_head}"
    )


def error_page(
    request: Request, error: AadError, *, interaction: Interaction | None = None, status: int = 400
) -> HTMLResponse:
    state = emulator_state(request)
    links = [("Sign in with another account", f"/common/login?flow={interaction.id}")] if interaction else []
    return HTMLResponse(
        html.message(
            title="Sorry, but we're having trouble signing you in.",
            text=error.description_head,
            details=_error_details(state, error, request),
            links=links,
        ),
        status_code=status,
    )


def _with_params(url: str, params: dict[str, str], *, fragment: bool = False) -> str:
    separator = "#" if fragment else ("&" if "?" in url else "?")
    return url + separator + urlencode(params)


def redirect_to_client(interaction: Interaction, params: dict[str, str]) -> Response:
    redirect_uri = interaction.params["redirect_uri"]
    if interaction.params.get("state") is not None:
        params = {**params, "state": interaction.params["state"]}
    mode = interaction.params.get("response_mode") or "query"
    if mode == "form_post":
        return HTMLResponse(html.form_post(action=redirect_uri, fields=params))
    return RedirectResponse(_with_params(redirect_uri, params, fragment=mode == "fragment"), status_code=302)


def redirect_error(
    request: Request, interaction: Interaction, error: AadError, *, subcode: str | None = None
) -> Response:
    state = emulator_state(request)
    body = error.body(moment=state.clock.utcnow(), correlation_id=None, error_base=state.https_base)
    params = {"error": error.error}
    if subcode:
        params["error_subcode"] = subcode
    params["error_description"] = body["error_description"]
    params["error_uri"] = body["error_uri"]
    return redirect_to_client(interaction, params)


def _session_user(request: Request) -> User | None:
    state = emulator_state(request)
    oid = state.sessions.get(request.cookies.get(SESSION_COOKIE, ""))
    return state.users.get(oid) if oid else None


# --- entry points ---------------------------------------------------------------------------------------


def _registered_redirect(app: App, requested: str | None) -> str:
    if not requested:
        if not app.redirect_uris:
            raise errors.missing_parameter("redirect_uri")
        return app.redirect_uris[0]
    if requested not in app.redirect_uris:  # exact match, like Entra
        raise errors.redirect_uri_not_registered(requested, app.client_id)
    return requested


def _requesting_app(request: Request, state: State, query: dict[str, str]) -> tuple[TenantRef, App]:
    """The tenant of the URL and the app of ``client_id``, with ``query``'s redirect URI settled to a registered
    one; an AadError means nothing can be redirected to, so the caller shows an error page."""
    tenant = state.resolve_tenant(request.path_params["tenant"])
    app = state.app_for_tenant(errors.required_parameter(query, "client_id"), tenant)
    query["redirect_uri"] = _registered_redirect(app, query.get("redirect_uri"))
    return tenant, app


async def authorize(request: Request) -> Response:
    state = emulator_state(request)
    query = dict(request.query_params)
    try:
        tenant, app = _requesting_app(request, state, query)
    except AadError as error:
        return error_page(request, error)  # never redirect to an unverified redirect URI
    interaction = state.new_interaction(
        kind="authorize", tenant_segment=tenant.segment, client_id=app.client_id, params=query
    )
    if query.get("response_type") != "code":
        return redirect_error(request, interaction, errors.unsupported_response_type(query.get("response_type", "")))
    if not query.get("scope"):
        return redirect_error(request, interaction, errors.missing_parameter("scope"))
    if query.get("code_challenge") and query.get("code_challenge_method", "plain") not in ("S256", "plain"):
        return redirect_error(request, interaction, errors.invalid_code_challenge_method())
    return proceed(request, interaction)


async def admin_consent(request: Request) -> Response:
    state = emulator_state(request)
    query = dict(request.query_params)
    try:
        tenant, app = _requesting_app(request, state, query)
    except AadError as error:
        return error_page(request, error)
    if "/v2.0/" not in request.url.path:
        query[LEGACY_ADMIN_CONSENT] = "1"
    query.pop("response_mode", None)  # admin consent always answers in the query string
    interaction = state.new_interaction(
        kind="adminconsent", tenant_segment=tenant.segment, client_id=app.client_id, params=query
    )
    return proceed(request, interaction)


async def device_login(request: Request) -> Response:
    if request.method == "GET":
        return HTMLResponse(html.device_code_entry())
    state = emulator_state(request)
    code = (await form_fields(request)).get("otc", "")
    device = state.device_by_user_code(code)
    if device is None:
        return HTMLResponse(
            html.device_code_entry(error="That code didn't work. Check the code and try again."), status_code=400
        )
    if device.expired(state.now()):
        return HTMLResponse(
            html.device_code_entry(
                error="The code you entered has expired. Get a new code from the device you're trying to sign in to "
                "and try again."
            ),
            status_code=400,
        )
    if device.status != "pending":
        return HTMLResponse(html.device_code_entry(error="That code has already been used."), status_code=400)
    interaction = state.new_interaction(
        kind="device",
        tenant_segment=device.tenant_segment,
        client_id=device.client_id,
        params={"scope": device.scope, "prompt": "login"},
        device_code=device.device_code,
    )
    return proceed(request, interaction)


async def sign_in(request: Request) -> Response:
    state = emulator_state(request)
    if request.method == "GET":  # "Sign in with another account"
        interaction = state.interactions.get(request.query_params.get("flow", ""))
        if interaction is None:
            return _flow_lost(request)
        interaction.user_oid = None
        return _sign_in_page(state, interaction)
    form = await form_fields(request)
    interaction = state.interactions.get(form.get("flow", ""))
    if interaction is None:
        return _flow_lost(request)
    login = form.get("login", "")
    try:
        user = state.user_by_upn(login)
    except AadError:
        return _sign_in_page(
            state,
            interaction,
            login_hint=login,
            error="This username may be incorrect. Make sure you typed it correctly.",
        )
    if form.get("passwd", "") != user.password:
        return _sign_in_page(
            state,
            interaction,
            login_hint=login,
            error=f"{errors.wrong_password().description_head} Your account or password is incorrect.",
        )
    interaction.user_oid = user.object_id
    response = proceed(request, interaction)
    response.set_cookie(SESSION_COOKIE, state.new_session(user.object_id), httponly=True, samesite="lax", path="/")
    return response


async def consent_decision(request: Request) -> Response:
    state = emulator_state(request)
    form = await form_fields(request)
    interaction = state.interactions.get(form.get("flow", ""))
    if interaction is None or interaction.user_oid is None:
        return _flow_lost(request)
    user = state.users[interaction.user_oid]
    app = state.apps[interaction.client_id]
    state.interactions.pop(interaction.id, None)
    if form.get("decision") != "accept":
        return _declined(request, interaction, user)
    if interaction.kind == "adminconsent":
        return _grant_admin_consent(request, interaction, app, user)
    if interaction.kind == "device":
        return _approve_device(request, interaction, app, user)
    needed = state.delegated_needed(app, parse_scopes(interaction.params["scope"]))
    for_org = form.get("consent_for_org") == "1" and user.is_admin
    state.consent_grant(
        client_id=app.client_id,
        directory=user.directory,
        principal=None if for_org else user.object_id,
        scopes=needed,
        roles=set(),
    )
    return _issue_code(request, interaction, user)


async def logout(request: Request) -> Response:
    state = emulator_state(request)
    with state.lock:
        state.sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
    target = request.query_params.get("post_logout_redirect_uri")
    response: Response
    if target:
        response = RedirectResponse(target, status_code=302)
    else:
        response = HTMLResponse(
            html.message(title="You signed out of your account", text="It's a good idea to close all browser windows.")
        )
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- the flow -------------------------------------------------------------------------------------------


def _flow_lost(request: Request) -> HTMLResponse:
    error = AadError(
        90014, "invalid_request", "The sign-in session has expired or is unknown. Start again from the application."
    )
    return error_page(request, error)


def _sign_in_page(state: State, interaction: Interaction, *, login_hint: str = "", error: str = "") -> HTMLResponse:
    app = state.apps[interaction.client_id]
    hint = login_hint or interaction.params.get("login_hint", "")
    return HTMLResponse(
        html.sign_in(flow=interaction.id, app_name=app.display_name, login_hint=hint, error=error),
        status_code=400 if error else 200,
    )


def proceed(request: Request, interaction: Interaction) -> Response:
    """Take the flow one step further: sign-in, eligibility, consent, then the outcome."""
    state = emulator_state(request)
    tenant = state.resolve_tenant(interaction.tenant_segment)
    app = state.apps[interaction.client_id]
    prompt = interaction.params.get("prompt", "")
    if interaction.user_oid is None:
        remembered = _session_user(request)
        if remembered and prompt not in ("login", "select_account"):
            interaction.user_oid = remembered.object_id
    if interaction.user_oid is None:
        if prompt == "none":
            return redirect_error(request, interaction, errors.login_required())
        # The request's login_hint comes first (the app knows who is signing in); else the account signed in here.
        session_user = _session_user(request)
        remembered_upn = session_user.upn if session_user else ""
        return _sign_in_page(state, interaction, login_hint=interaction.params.get("login_hint") or remembered_upn)
    user = state.users[interaction.user_oid]
    try:
        state.check_user_for(app, tenant, user)
    except AadError as error:
        return error_page(request, error, interaction=interaction)
    if interaction.kind == "adminconsent":
        return _admin_consent_step(request, interaction, app, user)
    return _delegated_consent_step(request, interaction, app, user)


def _can_consent(state: State, user: User) -> bool:
    return user.is_admin or state.directory_of(user).user_consent_allowed


def _admin_approval_page(request: Request, interaction: Interaction, app: App) -> HTMLResponse:
    error = errors.admin_approval_needed()
    cancel = (
        f'<form method="post" action="/common/Consent/Set">{html.hidden("flow", interaction.id)}'
        '<div class="buttons"><button type="submit" name="decision" value="cancel" id="idBtn_Back">'
        "Return to the application without granting consent</button></div></form>"
    )
    state = emulator_state(request)
    return HTMLResponse(
        html.message(
            title="Need admin approval",
            text=f"{app.display_name} needs permission to access resources in your organization that only an admin "
            f"can grant. Please ask an admin to grant permission to this app before you can use it.",
            details=_error_details(state, error, request),
            links=[("Have an admin account? Sign in with that account", f"/common/login?flow={interaction.id}")],
            extra_html=cancel,
        )
    )


def _may_grant(user: User, roles: set[str]) -> bool:
    """Any consenting administrator grants delegated permissions; Graph app roles need a Global or Privileged
    Role Administrator (a Cloud Application or Application Administrator cannot grant them)."""
    graph_roles = any(role.startswith(GRAPH + "/") for role in roles)
    return user.is_admin and (user.grants_graph_app_roles or not graph_roles)


def _admin_consent_step(request: Request, interaction: Interaction, app: App, user: User) -> Response:
    state = emulator_state(request)
    scopes, roles = _admin_consent_sets(state, interaction, app)
    if not _may_grant(user, roles):
        return _admin_approval_page(request, interaction, app)
    return HTMLResponse(
        html.consent(
            flow=interaction.id,
            app_name=app.display_name,
            upn=user.upn,
            permissions=scopes,
            roles=roles,
            for_organization=True,
        )
    )


def _admin_consent_sets(state: State, interaction: Interaction, app: App) -> tuple[set[str], set[str]]:
    scopes, roles = state.admin_grant_sets(app)
    requested = parse_scopes(interaction.params.get("scope", ""))
    return scopes | state.delegated_needed(app, requested), roles


def _delegated_consent_step(request: Request, interaction: Interaction, app: App, user: User) -> Response:
    state = emulator_state(request)
    needed = state.delegated_needed(app, parse_scopes(interaction.params["scope"]))
    missing = needed - state.granted_scopes(app, user.directory, user.object_id)
    prompt = interaction.params.get("prompt", "")
    if interaction.kind == "device":
        if missing and not _can_consent(state, user):
            return _admin_approval_page(request, interaction, app)
        return HTMLResponse(
            html.device_confirm(flow=interaction.id, app_name=app.display_name, upn=user.upn, permissions=needed)
        )
    if not missing and prompt != "consent":
        return _issue_code(request, interaction, user)
    if prompt == "none":
        return redirect_error(
            request, interaction, errors.interaction_consent_required(app.client_id, app.display_name)
        )
    if not _can_consent(state, user):
        return _admin_approval_page(request, interaction, app)
    return HTMLResponse(
        html.consent(
            flow=interaction.id,
            app_name=app.display_name,
            upn=user.upn,
            permissions=needed,
            offer_org_consent=user.is_admin,
        )
    )


def _issue_code(request: Request, interaction: Interaction, user: User) -> Response:
    state = emulator_state(request)
    params = interaction.params
    code = state.new_auth_code(
        client_id=interaction.client_id,
        redirect_uri=params["redirect_uri"],
        user_oid=user.object_id,
        tenant_id=user.directory,
        scope=params["scope"],
        nonce=params.get("nonce"),
        code_challenge=params.get("code_challenge"),
        code_challenge_method=params.get("code_challenge_method", "plain"),
    )
    state.interactions.pop(interaction.id, None)
    answer = {"code": code.code}
    if params.get("client_info") == "1":
        answer["client_info"] = client_info(user)
    answer["session_state"] = str(uuid.uuid4())
    return redirect_to_client(interaction, answer)


def _grant_admin_consent(request: Request, interaction: Interaction, app: App, user: User) -> Response:
    state = emulator_state(request)
    scopes, roles = _admin_consent_sets(state, interaction, app)
    if not _may_grant(user, roles):
        return _admin_approval_page(request, interaction, app)
    state.consent_grant(client_id=app.client_id, directory=user.directory, principal=None, scopes=scopes, roles=roles)
    answer = {"admin_consent": "True", "tenant": user.directory}
    if not interaction.params.get(LEGACY_ADMIN_CONSENT):
        # Entra echoes the requested scope (`.../.default`), which names no permission: what was granted shows
        # only in tokens fetched afterwards.
        answer["scope"] = interaction.params.get("scope", "")
    return redirect_to_client(interaction, answer)


def _approve_device(request: Request, interaction: Interaction, app: App, user: User) -> Response:
    state = emulator_state(request)
    device = state.device_codes.get(interaction.device_code or "")
    if device is None or device.expired(state.now()) or device.status != "pending":
        return HTMLResponse(
            html.device_code_entry(
                error="The code has expired or was already used. Get a new code from your device and try again."
            ),
            status_code=400,
        )
    try:
        oauth.approve_device_code(state, device.user_code, user)
    except AadError as error:
        return error_page(request, error)
    return HTMLResponse(
        html.message(
            title=app.display_name,
            text=f"You have signed in to the {app.display_name} application on your device. You may now close this "
            "window.",
        )
    )


def _declined(request: Request, interaction: Interaction, user: User) -> Response:
    state = emulator_state(request)
    app = state.apps[interaction.client_id]
    if interaction.kind == "device":
        device = state.device_codes.get(interaction.device_code or "")
        if device is not None:
            oauth.decline_device_code(state, device.user_code, user)
        return HTMLResponse(
            html.message(
                title=app.display_name,
                text=f"You have declined to sign in to the {app.display_name} application on your device. You may now "
                "close this window.",
            )
        )
    return redirect_error(request, interaction, errors.user_declined_consent(), subcode="cancel")


routes = [
    Route("/{tenant}/oauth2/v2.0/authorize", authorize, methods=["GET"]),
    Route("/{tenant}/v2.0/adminconsent", admin_consent, methods=["GET"]),
    Route("/{tenant}/adminconsent", admin_consent, methods=["GET"]),
    Route("/{tenant}/oauth2/v2.0/logout", logout, methods=["GET", "POST"]),
    Route("/devicelogin", device_login, methods=["GET", "POST"]),
    Route("/common/login", sign_in, methods=["GET", "POST"]),
    Route("/common/Consent/Set", consent_decision, methods=["POST"]),
]
