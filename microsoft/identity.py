"""Microsoft identity platform operations on MSAL: device code, refresh, client credentials, auth code,
admin consent, tenant discovery.

Every operation builds a FRESH MSAL application: MSAL replays a cached HTTP 400 (and throttles after a
429/5xx) for the lifetime of one application object, which would hide a fix the admin just made.
Token caches go in and come out as serialized text; the caller stores them encrypted.
Nothing here logs tokens, secrets, device codes or caches: only client ids, tenants and AADSTS codes.
"""

from __future__ import annotations

import copy
import enum
import hmac
import json
import logging
import re
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
import msal
import requests
from msal.exceptions import MsalServiceError
from requests.structures import CaseInsensitiveDict

from microsoft import config, errors
from microsoft.config import AppCredentials
from microsoft.http import MicrosoftSession, json_or_empty, session_create, transport_error

__all__ = [
    "AccountInfo",
    "AdminConsentResult",
    "AppCredentials",
    "AuthCodeStart",
    "DeviceFlowPoll",
    "DeviceFlowStarted",
    "DeviceFlowState",
    "TokenGrant",
    "admin_consent_parse",
    "admin_consent_url",
    "app_token_roles",
    "auth_code_finish",
    "auth_code_start",
    "cached_access_token",
    "client_credentials_acquire",
    "device_flow_poll",
    "device_flow_start",
    "discovery",
    "end_session_url",
    "scopes_equivalent",
    "tenant_resolve",
    "token_acquire_silent",
]

logger = logging.getLogger(__name__)

DISCOVERY_TTL_SECONDS = 300.0
# Clock skew tolerated on id token times: our clock and Microsoft's may drift a little.
ID_TOKEN_LEEWAY = timedelta(minutes=2)
# MSAL adds these to every user sign-in itself and raises ValueError if the caller passes them.
_RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access"})
_DISCOVERY_SUFFIX = "/.well-known/openid-configuration"

# --- Results -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountInfo:
    """The signed-in account as MSAL keys it (home_account_id = "<object id>.<tenant id>")."""

    home_account_id: str
    username: str
    tenant_id: str
    object_id: str


@dataclass(frozen=True)
class TokenGrant:
    """An access token and the serialized MSAL token cache to store (encrypted) after the operation.

    `refresh_token_rotated` is True when the cache now holds a refresh token it did not hold before
    (a first sign-in or a rotation): the returned cache must then replace the stored one.
    """

    access_token: str = field(repr=False)
    expires_at: datetime
    scopes: tuple[str, ...]
    token_cache: str = field(repr=False)
    account: AccountInfo | None
    refresh_token_rotated: bool
    id_token_claims: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class DeviceFlowStarted:
    """What to show the person (code, URL, message) and the flow to persist encrypted for polling."""

    user_code: str
    verification_uri: str
    expires_at: datetime
    interval: int
    message: str
    flow: dict[str, Any] = field(repr=False)


class DeviceFlowState(enum.StrEnum):
    PENDING = "pending"
    SLOW_DOWN = "slow_down"
    APPROVED = "approved"
    DECLINED = "declined"
    EXPIRED = "expired"


@dataclass(frozen=True)
class DeviceFlowPoll:
    """The outcome of one poll; `flow` is the updated flow to persist, `grant` is set when approved."""

    state: DeviceFlowState
    next_poll_at: datetime | None
    flow: dict[str, Any] = field(repr=False)
    grant: TokenGrant | None = None


@dataclass(frozen=True)
class AuthCodeStart:
    """Where to send the browser, and the flow (state, nonce, PKCE verifier) to keep server-side."""

    auth_uri: str
    flow: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class AdminConsentResult:
    """Which directory the answer names. Not evidence of anything: the `tenant` is not signed, and the `scope`
    only echoes the request (`/.default`), so it is not kept; what was granted shows in tokens fetched later."""

    tenant_id: str


# --- Discovery --------------------------------------------------------------------------------------


_document_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_document_cache_lock = threading.Lock()


def discovery(tenant: str) -> dict[str, Any]:
    """The tenant's OpenID configuration, cached per process for a few minutes.

    Reference: https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc#find-your-apps-openid-configuration-document-uri
    """
    return _discovery(tenant, session_create())


def _discovery(tenant: str, session: MicrosoftSession) -> dict[str, Any]:
    return _cached_document(f"{config.authority_url(tenant)}/v2.0{_DISCOVERY_SUFFIX}", session)


def _cached_document(url: str, session: MicrosoftSession, *, refresh: bool = False) -> dict[str, Any]:
    now = time.monotonic()
    with _document_cache_lock:
        hit = _document_cache.get(url)
    if hit and hit[0] > now and not refresh:
        return copy.deepcopy(hit[1])
    try:
        response = session.get(url)
    except requests.RequestException as exc:
        raise transport_error(exc) from exc
    if response.status_code != 200:
        raise _document_error(response)
    document = response.json()
    with _document_cache_lock:
        _document_cache[url] = (now + DISCOVERY_TTL_SECONDS, document)
    return copy.deepcopy(document)


def _document_error(response: requests.Response) -> errors.MicrosoftError:
    error = errors.classify(json_or_empty(response), response.status_code, response.headers)
    if error.code is None and response.status_code in (400, 404):
        # Microsoft answers an unknown tenant's discovery with 400 (AADSTS90002); keep that meaning
        # even when the body carries no code.
        error_class, explanation = errors.CATALOGUE[90002]
        return error_class(explanation, code=90002, error=error.error or "invalid_tenant")
    return error


class _MsalHttpClient:
    """MSAL's `http_client`: our session, with tenant discovery served from the process cache.

    MSAL fetches the discovery document whenever an application object is built, and we build one per
    operation; the cache keeps that to one fetch every few minutes.
    """

    def __init__(self, session: MicrosoftSession) -> None:
        self.session = session

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self.session.post(url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        if urlsplit(url).path.endswith(_DISCOVERY_SUFFIX) and not kwargs.get("params"):
            return _json_response(_cached_document(url, self.session))
        return self.session.get(url, **kwargs)

    def close(self) -> None:
        self.session.close()


def _json_response(document: dict[str, Any]) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = json.dumps(document).encode()
    response.encoding = "utf-8"
    response.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
    return response


# --- MSAL plumbing -----------------------------------------------------------------------------------


def _msal_app(
    app: AppCredentials,
    tenant: str,
    session: MicrosoftSession,
    *,
    token_cache: msal.SerializableTokenCache | None = None,
    public: bool | None = None,
) -> msal.ClientApplication:
    options: dict[str, Any] = {
        "authority": config.authority_url(tenant),
        "http_client": _MsalHttpClient(session),
        "instance_discovery": config.instance_discovery_enabled(),
        "token_cache": token_cache,
    }
    if public or (public is None and app.client_secret is None):
        return msal.PublicClientApplication(app.client_id, **options)
    return msal.ConfidentialClientApplication(app.client_id, client_credential=app.client_secret, **options)


@contextmanager
def _microsoft_call(session: MicrosoftSession, operation: str, app: AppCredentials, tenant: str) -> Iterator[None]:
    """Turn transport failures and MSAL's exceptions for 429/5xx into classified errors."""
    try:
        yield
    except requests.RequestException as exc:
        error = transport_error(exc)
        _log_failure(operation, app, tenant, error)
        raise error from exc
    except (MsalServiceError, ValueError) as exc:
        # A 5xx makes MSAL raise a bare MsalServiceError, a non-JSON 429 a ValueError: the status and
        # Retry-After are only on the last response.
        response = session.last_response
        if response is None or not (response.status_code == 429 or response.status_code >= 500):
            raise
        error = errors.classify(json_or_empty(response), response.status_code, response.headers)
        _log_failure(operation, app, tenant, error)
        raise error from exc


def _raise_for_error(
    result: Mapping[str, Any], session: MicrosoftSession, operation: str, app: AppCredentials, tenant: str
) -> None:
    if "error" not in result:
        return
    response = session.last_response
    error = errors.classify(
        result,
        response.status_code if response is not None else None,
        response.headers if response is not None else None,
    )
    _log_failure(operation, app, tenant, error)
    raise error


def _log_failure(operation: str, app: AppCredentials, tenant: str, error: errors.MicrosoftError) -> None:
    logger.warning(
        "Microsoft %s failed: client_id=%s tenant=%s class=%s error=%s code=%s correlation_id=%s",
        operation,
        app.client_id,
        tenant,
        type(error).__name__,
        error.error,
        error.code,
        error.correlation_id,
    )


def _user_scopes(scopes: Iterable[str]) -> list[str]:
    return [scope for scope in scopes if scope.lower() not in _RESERVED_SCOPES]


def _cache_from_text(text: str | None) -> msal.SerializableTokenCache:
    cache = msal.SerializableTokenCache()
    if text:
        cache.deserialize(text)
    return cache


def _cache_section(cache: msal.SerializableTokenCache, section: str) -> list[dict[str, Any]]:
    return list(json.loads(cache.serialize()).get(section, {}).values())


def _refresh_token_secrets(cache: msal.SerializableTokenCache) -> set[str]:
    return {entry["secret"] for entry in _cache_section(cache, "RefreshToken")}


def _granted_scopes(result: Mapping[str, Any], cache: msal.SerializableTokenCache) -> tuple[str, ...]:
    if result.get("scope"):
        return tuple(str(result["scope"]).split())
    # A token served from MSAL's cache carries no `scope`; the cache entry remembers what was granted.
    for entry in _cache_section(cache, "AccessToken"):
        if entry.get("secret") == result["access_token"]:
            return tuple(str(entry.get("target", "")).split())
    return ()


def _account(
    client: msal.ClientApplication, result: Mapping[str, Any], home_account_id: str | None = None
) -> AccountInfo | None:
    accounts = client.get_accounts()
    object_id = (result.get("id_token_claims") or {}).get("oid")
    chosen = next(
        (a for a in accounts if home_account_id and a.get("home_account_id") == home_account_id),
        next((a for a in accounts if object_id and a.get("local_account_id") == object_id), None),
    )
    if chosen is None and len(accounts) == 1:
        chosen = accounts[0]
    if chosen is None:
        return None
    return AccountInfo(
        home_account_id=chosen["home_account_id"],
        username=chosen.get("username", ""),
        tenant_id=_account_tenant_id(chosen, result),
        object_id=chosen.get("local_account_id", ""),
    )


def _account_tenant_id(account: Mapping[str, Any], result: Mapping[str, Any]) -> str:
    """The directory the sign-in was for; MSAL's `realm` is the authority's (e.g. `organizations`)."""
    claimed = (result.get("id_token_claims") or {}).get("tid")
    if claimed:
        return str(claimed)
    realm = str(account.get("realm", ""))
    if is_guid(realm):
        return realm
    return str(account.get("home_account_id", "")).rpartition(".")[2]


def _grant(
    result: Mapping[str, Any],
    *,
    client: msal.ClientApplication,
    cache: msal.SerializableTokenCache,
    refresh_tokens_before: set[str],
    received_at: datetime,
    home_account_id: str | None = None,
    with_account: bool = True,
) -> TokenGrant:
    return TokenGrant(
        access_token=result["access_token"],
        expires_at=received_at + timedelta(seconds=int(result.get("expires_in", 0))),
        scopes=_granted_scopes(result, cache),
        token_cache=cache.serialize(),
        account=_account(client, result, home_account_id) if with_account else None,
        refresh_token_rotated=bool(_refresh_token_secrets(cache) - refresh_tokens_before),
        id_token_claims=dict(result.get("id_token_claims") or {}),
    )


def _now() -> datetime:
    return datetime.now(UTC)


# --- Device code flow -------------------------------------------------------------------------------


def device_flow_start(*, app: AppCredentials, tenant: str, scopes: Iterable[str]) -> DeviceFlowStarted:
    """Ask Microsoft for a device code; the person enters `user_code` at `verification_uri`.

    The device code flow is a public-client flow: no secret is sent even if the app has one.
    Reference: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code
    """
    session = session_create(pooled=True)
    with _microsoft_call(session, "device_flow_start", app, tenant):
        client = _msal_app(app, tenant, session, public=True)
        flow = client.initiate_device_flow(scopes=_user_scopes(scopes))  # type: ignore[attr-defined]
    if "user_code" not in flow:
        _raise_for_error(flow, session, "device_flow_start", app, tenant)
    logger.info("Device code issued: client_id=%s tenant=%s", app.client_id, tenant)
    return DeviceFlowStarted(
        user_code=flow["user_code"],
        verification_uri=flow["verification_uri"],
        expires_at=datetime.fromtimestamp(float(flow["expires_at"]), UTC),
        interval=int(flow.get("interval", 5)),
        message=str(flow.get("message", "")),
        flow=dict(flow),
    )


_DEVICE_FLOW_WAITING = {
    "authorization_pending": DeviceFlowState.PENDING,
    "slow_down": DeviceFlowState.SLOW_DOWN,
    "authorization_declined": DeviceFlowState.DECLINED,
    "access_denied": DeviceFlowState.DECLINED,
    "expired_token": DeviceFlowState.EXPIRED,
    "code_expired": DeviceFlowState.EXPIRED,
}
_DEVICE_CODE_EXPIRED = 70019
# The caller's scheduler owns the pacing (next_poll_at): MSAL's "Attempted too soon" is noise. Filtered once
# here rather than with catch_warnings around each poll, which is not thread-safe and polls run side by side.
warnings.filterwarnings("ignore", message="Attempted too soon", module="msal")


def device_flow_poll(
    *, app: AppCredentials, tenant: str, flow: dict[str, Any], now: datetime | None = None
) -> DeviceFlowPoll:
    """Poll the token endpoint ONCE for a device code (never blocks); persist the returned flow.

    Reference: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code#authenticating-the-user
    """
    now = now or _now()
    updated = copy.deepcopy(flow)
    if now.timestamp() >= float(updated.get("expires_at", 0)):
        return DeviceFlowPoll(state=DeviceFlowState.EXPIRED, next_poll_at=None, flow=updated)
    session = session_create(pooled=True)
    cache = msal.SerializableTokenCache()
    with _microsoft_call(session, "device_flow_poll", app, tenant):
        client = _msal_app(app, tenant, session, token_cache=cache, public=True)
        result = client.acquire_token_by_device_flow(  # type: ignore[attr-defined]
            updated, exit_condition=lambda _flow: True
        )
        if "access_token" in result:
            grant = _grant(result, client=client, cache=cache, refresh_tokens_before=set(), received_at=now)
            logger.info("Device code approved: client_id=%s tenant=%s", app.client_id, tenant)
            return DeviceFlowPoll(state=DeviceFlowState.APPROVED, next_poll_at=None, flow=updated, grant=grant)
    state = _DEVICE_FLOW_WAITING.get(str(result.get("error")))
    if state is None and _DEVICE_CODE_EXPIRED in (result.get("error_codes") or []):
        state = DeviceFlowState.EXPIRED
    if state is None:
        _raise_for_error(result, session, "device_flow_poll", app, tenant)
        raise errors.MicrosoftError("Microsoft answered the device code poll unexpectedly.")
    waiting = state in (DeviceFlowState.PENDING, DeviceFlowState.SLOW_DOWN)
    next_poll_at = now + timedelta(seconds=int(updated.get("interval", 5))) if waiting else None
    return DeviceFlowPoll(state=state, next_poll_at=next_poll_at, flow=updated)


# --- Refresh and app-only tokens ----------------------------------------------------------------------


def token_acquire_silent(
    *,
    app: AppCredentials,
    tenant: str,
    token_cache: str,
    home_account_id: str,
    scopes: Iterable[str],
    force_refresh: bool = False,
) -> TokenGrant:
    """An access token from the stored cache: the cached one if it has over 5 minutes left, else refreshed.

    The rotated refresh token is inside the returned `token_cache`. A public client (secret None) never
    sends a secret (Microsoft answers AADSTS700025 if it does).
    Reference: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-access-token
    """
    session = session_create(pooled=True)
    cache = _cache_from_text(token_cache)
    refresh_tokens_before = _refresh_token_secrets(cache)
    received_at = _now()
    with _microsoft_call(session, "token_acquire_silent", app, tenant):
        client = _msal_app(app, tenant, session, token_cache=cache)
        account = next((a for a in client.get_accounts() if a.get("home_account_id") == home_account_id), None)
        if account is None:
            raise errors.ReconsentRequired(
                "There is no stored sign-in for this account. Reconnect and sign in again.",
                error="no_account",
            )
        result = client.acquire_token_silent_with_error(_user_scopes(scopes), account, force_refresh=force_refresh)
        if result is None:
            raise errors.ReconsentRequired(
                "The stored sign-in has no usable refresh token. Reconnect and sign in again.",
                error="no_refresh_token",
            )
        _raise_for_error(result, session, "token_acquire_silent", app, tenant)
        return _grant(
            result,
            client=client,
            cache=cache,
            refresh_tokens_before=refresh_tokens_before,
            received_at=received_at,
            home_account_id=home_account_id,
        )


def client_credentials_acquire(*, app: AppCredentials, tenant: str, scope: str) -> TokenGrant:
    """An app-only token (no user, no refresh token), always fresh from the token endpoint.

    Reference: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
    """
    if app.client_secret is None:
        raise errors.ConfigurationError(
            "App-only access needs the app's client secret. Enter the Application Secret.",
            error="missing_secret",
        )
    session = session_create(pooled=True)
    cache = msal.SerializableTokenCache()
    received_at = _now()
    with _microsoft_call(session, "client_credentials_acquire", app, tenant):
        client = _msal_app(app, tenant, session, token_cache=cache)
        result = client.acquire_token_for_client(scopes=[scope])  # type: ignore[attr-defined]
        _raise_for_error(result, session, "client_credentials_acquire", app, tenant)
        return _grant(
            result,
            client=client,
            cache=cache,
            refresh_tokens_before=set(),
            received_at=received_at,
            with_account=False,
        )


def app_token_roles(access_token: str) -> tuple[str, ...] | None:
    """The application permissions (`roles`) an app-only access token carries, or None when it cannot be read.

    Access tokens are meant for their API and clients must not rely on their format: Microsoft may issue them
    opaque or encrypted, hence None ("checked on first use"). This only reads a token that came straight from the
    token endpoint over TLS (as client_credentials_acquire returns it), to learn what an administrator granted;
    it never validates one. An empty tuple means a readable token with no roles.
    Reference: https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference
    """
    try:
        claims = jwt.decode(access_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    roles = claims.get("roles", [])
    if not isinstance(roles, list):
        return None
    return tuple(str(role) for role in roles)


# --- Authorization code flow (browser sign-in) -------------------------------------------------------


def auth_code_start(
    *,
    app: AppCredentials,
    tenant: str,
    scopes: Iterable[str],
    redirect_uri: str,
    login_hint: str | None = None,
    prompt: str | None = None,
) -> AuthCodeStart:
    """Build the sign-in URL (PKCE, state, nonce; the answer is POSTed back: response_mode=form_post).

    Reference: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#request-an-authorization-code
    """
    session = session_create(pooled=True)
    with _microsoft_call(session, "auth_code_start", app, tenant):
        client = _msal_app(app, tenant, session)
        flow = client.initiate_auth_code_flow(
            scopes=_user_scopes(scopes),
            redirect_uri=redirect_uri,
            login_hint=login_hint,
            prompt=prompt,
            response_mode="form_post",
        )
    return AuthCodeStart(auth_uri=flow["auth_uri"], flow=dict(flow))


def auth_code_finish(
    *,
    app: AppCredentials,
    tenant: str,
    flow: dict[str, Any],
    callback_params: dict[str, Any],
    expected_tenant_id: str | None,
    allow_personal_accounts: bool = False,
    now: datetime | None = None,
) -> TokenGrant:
    """Redeem the code from the sign-in callback, then validate the id token (MSAL only checks the nonce).

    Checked here: signature (JWKS), issuer, audience, expiry, the directory (`tid`), personal accounts.
    Reference: https://learn.microsoft.com/entra/identity-platform/id-tokens#validate-tokens
    """
    now = now or _now()
    if not hmac.compare_digest(str(flow.get("state", "")), str(callback_params.get("state", ""))):
        raise errors.StateMismatch(
            "The sign-in answer does not belong to the sign-in this portal started (it may be forged or "
            "come from another browser tab). Start the sign-in again.",
            error="state_mismatch",
        )
    session = session_create(pooled=True)
    cache = msal.SerializableTokenCache()
    with _microsoft_call(session, "auth_code_finish", app, tenant):
        client = _msal_app(app, tenant, session, token_cache=cache)
        try:
            result = client.acquire_token_by_auth_code_flow(copy.deepcopy(flow), dict(callback_params))
        except RuntimeError as exc:  # MSAL's nonce check
            raise _id_token_rejected("the nonce does not match this sign-in (a replayed answer)") from exc
        _raise_for_error(result, session, "auth_code_finish", app, tenant)
        claims = _validated_id_token_claims(
            result.get("id_token"),
            app=app,
            tenant=tenant,
            session=session,
            expected_tenant_id=expected_tenant_id,
            allow_personal_accounts=allow_personal_accounts,
            now=now,
        )
        grant = _grant(result, client=client, cache=cache, refresh_tokens_before=set(), received_at=now)
    logger.info("Sign-in accepted: client_id=%s tid=%s oid=%s", app.client_id, claims.get("tid"), claims.get("oid"))
    return grant


def _id_token_rejected(reason: str) -> errors.IdTokenRejected:
    return errors.IdTokenRejected(
        f"The sign-in was refused because Microsoft's answer failed a security check: {reason}. "
        "Start the sign-in again; if it keeps happening, contact support.",
        error="id_token_rejected",
    )


def _validated_id_token_claims(
    id_token: str | None,
    *,
    app: AppCredentials,
    tenant: str,
    session: MicrosoftSession,
    expected_tenant_id: str | None,
    allow_personal_accounts: bool,
    now: datetime,
) -> dict[str, Any]:
    if not id_token:
        raise _id_token_rejected("Microsoft returned no id token")
    document = _discovery(tenant, session)
    claims = _verified_signature_claims(id_token, document=document, app=app, session=session)
    tenant_id = str(claims.get("tid") or "")
    _check_times(claims, now)
    if not tenant_id:
        raise _id_token_rejected("the id token names no directory")
    if claims.get("iss") != str(document["issuer"]).replace("{tenantid}", tenant_id):
        raise _id_token_rejected("the id token was issued by an unexpected issuer")
    if tenant_id.lower() == config.PERSONAL_ACCOUNTS_TENANT_ID and not allow_personal_accounts:
        raise errors.IdTokenRejected(
            "Personal Microsoft accounts cannot sign in here. Sign in with a work or school account.",
            error="personal_account",
        )
    if expected_tenant_id and tenant_id.lower() != expected_tenant_id.lower():
        raise errors.IdTokenRejected(
            "The account belongs to another Microsoft 365 directory than the one connected to this "
            "integration. Sign in with an account of the connected directory.",
            code=50020,
            error="wrong_tenant",
        )
    return claims


def _verified_signature_claims(
    id_token: str, *, document: Mapping[str, Any], app: AppCredentials, session: MicrosoftSession
) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(id_token)
        key = _signing_key(str(document["jwks_uri"]), header.get("kid"), session)
        return jwt.decode(
            id_token,
            key=key,
            algorithms=["RS256"],
            audience=app.client_id,
            # Times and issuer are checked by the caller, against its own clock and the discovered issuer.
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_iss": False,
                "require": ["exp", "iss", "aud"],
            },
        )
    except jwt.InvalidAudienceError as exc:
        raise _id_token_rejected("the id token was issued to another app") from exc
    except jwt.InvalidSignatureError as exc:
        raise _id_token_rejected("the id token signature is invalid") from exc
    except jwt.PyJWTError as exc:
        raise _id_token_rejected("the id token could not be verified") from exc


def _signing_key(jwks_uri: str, kid: str | None, session: MicrosoftSession) -> jwt.PyJWK:
    for refresh in (False, True):  # Microsoft rotates keys: an unknown kid forces one fresh download
        key_set = jwt.PyJWKSet.from_dict(_cached_document(jwks_uri, session, refresh=refresh))
        key = next((k for k in key_set.keys if k.key_id == kid), None)
        if key is not None:
            return key
    raise _id_token_rejected("the id token was signed with an unknown key")


def _check_times(claims: Mapping[str, Any], now: datetime) -> None:
    timestamp = now.timestamp()
    leeway = ID_TOKEN_LEEWAY.total_seconds()
    if float(claims["exp"]) + leeway < timestamp:
        raise _id_token_rejected("the id token has expired")
    not_before = claims.get("nbf", claims.get("iat"))
    if not_before is not None and float(not_before) - leeway > timestamp:
        raise _id_token_rejected("the id token is not valid yet")


def end_session_url(*, tenant: str, post_logout_redirect_uri: str, logout_hint: str | None = None) -> str:
    """Where to send the browser to sign out of Microsoft too: the discovered `end_session_endpoint`, which sends it
    back to `post_logout_redirect_uri` (registered on the app as a redirect URI). One call, usually cached.

    Reference: https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc#send-a-sign-out-request
    """
    endpoint = str(discovery(tenant)["end_session_endpoint"])
    query = {"post_logout_redirect_uri": post_logout_redirect_uri}
    if logout_hint:
        query["logout_hint"] = logout_hint
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}"


# --- Admin consent ----------------------------------------------------------------------------------


def admin_consent_url(
    *, client_id: str, tenant: str, redirect_uri: str, state: str, scope: str = config.GRAPH_DEFAULT_SCOPE
) -> str:
    """The URL where a Global Administrator grants the app's permissions for the whole directory.

    Built on the discovered authorization endpoint's origin (the browser-facing host).
    Reference: https://learn.microsoft.com/entra/identity-platform/v2-admin-consent
    """
    authorization = urlsplit(str(discovery(tenant)["authorization_endpoint"]))
    query = urlencode({"client_id": client_id, "scope": scope, "redirect_uri": redirect_uri, "state": state})
    return f"{authorization.scheme}://{authorization.netloc}/{tenant}/v2.0/adminconsent?{query}"


def admin_consent_parse(*, params: Mapping[str, Any], expected_state: str) -> AdminConsentResult:
    """Read the admin consent callback: which directory consented to what, or why it did not.

    Reference: https://learn.microsoft.com/entra/identity-platform/v2-admin-consent#successful-response
    """
    if not expected_state or not hmac.compare_digest(str(params.get("state", "")), expected_state):
        raise errors.StateMismatch(
            "The consent answer does not belong to the consent request this portal started (it may be "
            "forged or come from another browser tab). Start the consent again.",
            error="state_mismatch",
        )
    if params.get("error"):
        error = errors.classify({"error": params["error"], "error_description": params.get("error_description", "")})
        if error.code is None and error.error in ("access_denied", "permission_denied", "consent_required"):
            error_class, explanation = errors.CATALOGUE[65004]
            error = error_class(explanation, error=error.error, description=error.description)
        logger.warning("Admin consent refused: error=%s code=%s", error.error, error.code)
        raise error
    tenant_id = str(params.get("tenant", ""))
    if str(params.get("admin_consent", "")).lower() != "true" or not is_guid(tenant_id):
        raise errors.ReconsentRequired(
            "Microsoft did not confirm the consent. Start the consent again.", error="consent_incomplete"
        )
    return AdminConsentResult(tenant_id=tenant_id.lower())


# --- Tenants ----------------------------------------------------------------------------------------


def tenant_resolve(domain_or_guid: str) -> str:
    """The directory (tenant) GUID for a domain such as contoso.onmicrosoft.com, or for a GUID.

    Reference: https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc#find-your-apps-openid-configuration-document-uri
    """
    value = domain_or_guid.strip()
    if not value or "/" in value or value.lower() in ("common", "organizations", "consumers"):
        error_class, explanation = errors.CATALOGUE[90002]
        raise error_class(explanation, code=90002, error="invalid_tenant")
    document = discovery(value)
    for url in (document.get("token_endpoint", ""), document.get("issuer", "")):
        segments = [s for s in urlsplit(str(url)).path.split("/") if s]
        if segments and is_guid(segments[0]):
            return segments[0].lower()
    error_class, explanation = errors.CATALOGUE[90002]
    raise error_class(explanation, code=90002, error="invalid_tenant")


# Directory (tenant), application (client) and object ids as Microsoft writes them: 8-4-4-4-12 hex digits. uuid.UUID
# would also take braces, a urn: prefix or 32 bare digits, which Microsoft never shows and its endpoints refuse.
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def is_guid(value: str) -> bool:
    """Whether `value` is a GUID in the form Microsoft gives directory, application and object ids."""
    return _GUID.fullmatch(value) is not None


# --- Reading a stored token cache without calling Microsoft --------------------------------------------------

_OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})


def _scope_set(scopes: Iterable[str]) -> set[str]:
    """Scopes as Microsoft echoes them: case-insensitive, Graph's without their resource prefix."""
    graph_prefix = f"{config.GRAPH_RESOURCE}/".lower()
    return {scope.lower().removeprefix(graph_prefix) for scope in scopes} - _OIDC_SCOPES


def scopes_equivalent(left: Iterable[str], right: Iterable[str]) -> bool:
    """Whether two scope lists ask for the same permissions, as Microsoft compares them."""
    return _scope_set(left) == _scope_set(right)


def cached_access_token(
    *,
    token_cache: str,
    client_id: str,
    home_account_id: str | None,
    scopes: Iterable[str],
    valid_until: datetime,
) -> str | None:
    """The access token in a serialized MSAL cache that covers `scopes` beyond `valid_until`, or None.

    Reads MSAL's cache format (AccessToken entries carry `secret`, `target`, `expires_on`), so handing out a
    still-valid token costs no MSAL application and no call. `home_account_id` None means app-only tokens.
    Reference: https://learn.microsoft.com/entra/msal/python/advanced/msal-python-token-cache-serialization
    """
    try:
        entries = json.loads(token_cache or "{}").get("AccessToken", {}).values()
    except (ValueError, AttributeError):
        return None
    wanted = _scope_set(scopes)
    deadline = valid_until.timestamp()
    best: tuple[float, str] | None = None
    for entry in entries:
        if str(entry.get("client_id", "")).lower() != client_id.lower():
            continue
        if home_account_id is not None and entry.get("home_account_id") != home_account_id:
            continue
        if not wanted <= _scope_set(str(entry.get("target", "")).split()):
            continue
        expires_on = float(entry.get("expires_on") or 0)
        if expires_on > deadline and (best is None or expires_on > best[0]):
            best = (expires_on, str(entry["secret"]))
    return best[1] if best else None
