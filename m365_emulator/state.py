"""The emulator's in-memory world: the seeded directory data plus everything issued since the last reset.

One ``State`` lives per process (``current()``). Request handlers run on the event loop, other in-process servers
(the SMTP server) may call ``access_token_claims`` from their own threads, so every mutation holds ``lock``.
"""

from __future__ import annotations

import copy
import secrets
import tempfile
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt

from m365_emulator import errors
from m365_emulator.clock import Clock
from m365_emulator.crypto import SigningKey
from m365_emulator.scopes import DEFAULT_PERMISSION, Permission, ScopeRequest
from m365_emulator.seed import App, Directory, Seed, User, load_seed

SPECIAL_TENANTS = ("common", "organizations", "consumers")
AUTH_CODE_LIFETIME = 600
REFRESH_TOKEN_INACTIVITY = 90 * 24 * 3600
USER_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
MAX_RECORDED_REQUESTS = 5000


def ms_datetime(epoch: float) -> str:
    """Microsoft's ``2021-03-25T15:24:39.1547425Z`` format used inside error messages."""
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


@dataclass(frozen=True)
class TenantRef:
    segment: str
    directory: Directory | None  # None for common / organizations / consumers

    @property
    def is_specific(self) -> bool:
        return self.directory is not None

    @property
    def display(self) -> str:
        return self.directory.display_name if self.directory else self.segment


@dataclass
class Consent:
    client_id: str
    directory: str
    principal: str | None  # user object id, or None when an admin consented for every user
    scopes: set[str] = field(default_factory=set)
    roles: set[str] = field(default_factory=set)
    # When each role was granted: app tokens carry a role only once it has propagated (``State.role_lag``).
    roles_granted_at: dict[str, float] = field(default_factory=dict)

    def as_json(self, state: State) -> dict[str, Any]:
        user = state.users.get(self.principal) if self.principal else None
        return {
            "client_id": self.client_id,
            "tenant_id": self.directory,
            "user": user.upn if user else None,
            "admin_consent": self.principal is None,
            "scopes": sorted(self.scopes),
            "roles": sorted(self.roles),
        }


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    user_oid: str
    tenant_id: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str
    issued_at: float
    redeemed: bool = False


@dataclass
class DeviceCode:
    device_code: str
    user_code: str
    client_id: str
    tenant_segment: str
    scope: str
    issued_at: float
    expires_in: int
    interval: int
    status: str = "pending"  # pending | approved | declined | redeemed
    user_oid: str | None = None
    last_poll_at: float | None = None
    expired_by_control: bool = False

    def expired(self, now: float) -> bool:
        return self.expired_by_control or now >= self.issued_at + self.expires_in


@dataclass
class RefreshToken:
    token: str
    client_id: str
    user_oid: str
    tenant_id: str
    issued_at: float
    revoked_at: float | None = None


@dataclass
class Interaction:
    """A browser flow in progress: authorize, admin consent or device login."""

    id: str
    kind: str  # authorize | adminconsent | device
    tenant_segment: str
    client_id: str
    params: dict[str, str]
    user_oid: str | None = None
    device_code: str | None = None


@dataclass
class Fault:
    status: int | None = None
    retry_after: int | None = None
    latency_ms: int | None = None
    drop: bool = False
    count: int = 1
    skip: int = 0  # let this many requests of the endpoint through first
    lose_response: bool = False  # the request takes effect, then the connection drops before the answer


@dataclass
class RequestRecord:
    at: float
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str]
    endpoint: str
    scheme: str
    status: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "form": self.form,
            "endpoint": self.endpoint,
            "scheme": self.scheme,
            "status": self.status,
        }


class State:
    def __init__(
        self,
        *,
        seed_path: Path,
        signing_key: SigningKey,
        https_base: str,
        http_base: str,
        state_dir: Path | None = None,
    ) -> None:
        self.seed_path = seed_path
        # Where services keep what does not belong in memory (OneDrive's file contents).
        self.state_dir = state_dir or Path(tempfile.mkdtemp(prefix="m365-emulator-"))
        self.signing_key = signing_key
        self.https_base = https_base
        self.http_base = http_base
        self.clock = Clock()
        self.lock = threading.RLock()
        self.requests: deque[RequestRecord] = deque(maxlen=MAX_RECORDED_REQUESTS)
        self.faults: dict[str, list[Fault]] = {}
        self._seed: Seed = load_seed(seed_path)
        # Other in-process servers (SMTP) keep their own records; reset() clears them too.
        self.on_reset: list[Callable[[], None]] = []
        self.reset()

    # --- lifecycle ------------------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            seed = copy.deepcopy(self._seed)
            self.seed = seed
            self.directories: dict[str, Directory] = {d.tenant_id: d for d in seed.directories}
            self.users: dict[str, User] = {u.object_id: u for u in seed.users}
            self.apps: dict[str, App] = {a.client_id: a for a in seed.apps}
            self.consents: list[Consent] = []
            self.auth_codes: dict[str, AuthCode] = {}
            self.device_codes: dict[str, DeviceCode] = {}
            self.refresh_tokens: dict[str, RefreshToken] = {}
            self.sessions: dict[str, str] = {}
            self.interactions: dict[str, Interaction] = {}
            # Entra takes a while to put newly consented app roles into app tokens; tests set the delay.
            self.role_lag = 0.0
            # Apps whose app-only access tokens are opaque to clients (not JWTs), and what those tokens mean.
            self.opaque_token_clients: set[str] = set()
            self.opaque_tokens: dict[str, dict[str, Any]] = {}
            self.faults.clear()
            self.requests.clear()
            self.clock.reset()
            for hook in self.on_reset:
                hook()
            for item in seed.consents:
                principal = self.user_by_upn(item.user).object_id if item.user else None
                self.consent_grant(
                    client_id=item.client_id,
                    directory=item.directory,
                    principal=principal,
                    scopes=set(item.scopes),
                    roles=set(item.roles),
                    at=0.0,  # seeded consents were granted long ago: their roles have propagated
                )

    def now(self) -> float:
        return self.clock.now()

    # --- lookups --------------------------------------------------------------------------------------

    def resolve_tenant(self, segment: str) -> TenantRef:
        lowered = segment.lower()
        if lowered in SPECIAL_TENANTS:
            return TenantRef(lowered, None)
        for directory in self.directories.values():
            if lowered == directory.tenant_id or lowered in directory.domains:
                return TenantRef(segment, directory)
        raise errors.tenant_not_found(segment)

    def user_by_upn(self, upn: str) -> User:
        lowered = upn.strip().lower()
        for user in self.users.values():
            if user.upn == lowered or user.mail.lower() == lowered:
                return user
        raise errors.unknown_user(upn)

    def user_by_reference(self, reference: str) -> User | None:
        """The user whose object id or user principal name is ``reference`` (already lowered), if any."""
        return self.users.get(reference) or next((u for u in self.users.values() if u.upn == reference), None)

    def directory_of(self, user: User) -> Directory:
        return self.directories[user.directory]

    def app_for_tenant(self, client_id: str, tenant: TenantRef) -> App:
        """The app as seen from ``tenant``: 700016 when it is unknown or single-tenant elsewhere."""
        app = self.apps.get(client_id.strip().lower())
        if app is None:
            raise errors.app_not_found(client_id, tenant.display)
        if not app.multi_tenant:
            if tenant.directory is None:
                raise errors.not_multi_tenant(app.client_id, app.display_name)
            if tenant.directory.tenant_id != app.home_directory:
                raise errors.app_not_found(client_id, tenant.display)
        return app

    def check_user_for(self, app: App, tenant: TenantRef, user: User) -> None:
        """Can ``user`` sign in to ``app`` through ``tenant``? Raises the error Entra shows on its page."""
        directory = self.directory_of(user)
        if not user.enabled:
            raise errors.user_disabled()
        if tenant.segment == "organizations" and directory.personal:
            raise errors.personal_account_not_allowed()
        if tenant.segment == "consumers" and not directory.personal:
            raise errors.user_not_in_tenant(user.upn, "consumers", app.client_id, app.display_name)
        if tenant.directory is not None and tenant.directory.tenant_id != directory.tenant_id:
            raise errors.user_not_in_tenant(user.upn, tenant.directory.display_name, app.client_id, app.display_name)
        if not app.multi_tenant and directory.tenant_id != app.home_directory:
            home = self.directories[app.home_directory]
            raise errors.user_not_in_tenant(user.upn, home.display_name, app.client_id, app.display_name)

    # --- client authentication ------------------------------------------------------------------------

    def authenticate_client(self, app: App, secret: str | None, *, credentials_required: bool) -> None:
        """Entra's rules: a confidential app proves itself with a secret, a public client must not send one."""
        if secret:
            if app.public_client:
                raise errors.public_client_sent_secret()
            matching = [s for s in app.secrets if secrets.compare_digest(s.value, secret)]
            if not matching:
                raise errors.client_secret_invalid(app.client_id)
            if all(s.expires < self.clock.today() for s in matching):
                raise errors.client_secret_expired(app.client_id)
            return
        if credentials_required or not app.allow_public_client_flows:
            raise errors.client_secret_missing()

    # --- consent --------------------------------------------------------------------------------------

    def consent_grant(
        self,
        *,
        client_id: str,
        directory: str,
        principal: str | None,
        scopes: set[str],
        roles: set[str],
        at: float | None = None,
    ) -> Consent:
        with self.lock:
            now = self.now() if at is None else at
            for consent in self.consents:
                if (consent.client_id, consent.directory, consent.principal) == (client_id, directory, principal):
                    consent.scopes |= scopes
                    for role in roles - consent.roles:
                        consent.roles_granted_at[role] = now
                    consent.roles |= roles
                    return consent
            consent = Consent(client_id, directory, principal, set(scopes), set(roles), dict.fromkeys(roles, now))
            self.consents.append(consent)
            return consent

    def consent_remove(self, *, client_id: str, directory: str) -> int:
        with self.lock:
            before = len(self.consents)
            self.consents = [c for c in self.consents if not (c.client_id == client_id and c.directory == directory)]
            return before - len(self.consents)

    def granted_scopes(self, app: App, directory: str, user_oid: str | None) -> set[str]:
        granted: set[str] = set()
        for consent in self.consents:
            same_app = consent.client_id == app.client_id and consent.directory == directory
            if same_app and consent.principal in (None, user_oid):
                granted |= consent.scopes
        return granted

    def granted_roles(self, app: App, directory: str) -> set[str]:
        """The app roles consented in the directory that have propagated (older than ``role_lag`` seconds)."""
        roles: set[str] = set()
        propagated_before = self.now() - self.role_lag
        for consent in self.consents:
            if consent.client_id == app.client_id and consent.directory == directory and consent.principal is None:
                roles |= {r for r in consent.roles if consent.roles_granted_at.get(r, 0.0) <= propagated_before}
        return roles

    def has_service_principal(self, app: App, directory: str) -> bool:
        """An app exists in a directory once it is its home or someone consented to it there."""
        return directory == app.home_directory or any(
            c.client_id == app.client_id and c.directory == directory for c in self.consents
        )

    def delegated_needed(self, app: App, request: ScopeRequest) -> set[str]:
        """Full permission names the request needs consent for (``/.default`` = the app's static list)."""
        needed: set[str] = set()
        for permission in request.permissions:
            needed |= self.expand(app, permission)
        return needed

    def expand(self, app: App, permission: Permission) -> set[str]:
        if permission.name != DEFAULT_PERMISSION:
            return {permission.full_name}
        static = app.permissions.get(permission.resource)
        return {f"{permission.resource}/{name}" for name in static.delegated} if static else set()

    def admin_grant_sets(self, app: App) -> tuple[set[str], set[str]]:
        scopes = {f"{res}/{n}" for res, perms in app.permissions.items() for n in perms.delegated}
        roles = {f"{res}/{n}" for res, perms in app.permissions.items() for n in perms.application}
        return scopes, roles

    # --- issued artefacts -----------------------------------------------------------------------------

    def new_auth_code(self, **fields: Any) -> AuthCode:
        with self.lock:
            code = AuthCode(code="1.A" + secrets.token_urlsafe(96), issued_at=self.now(), **fields)
            self.auth_codes[code.code] = code
            return code

    def new_device_code(self, *, app: App, tenant_segment: str, scope: str) -> DeviceCode:
        with self.lock:
            user_code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(9))
            device = DeviceCode(
                device_code="DAQABIQEAAAD" + secrets.token_urlsafe(120),
                user_code=user_code,
                client_id=app.client_id,
                tenant_segment=tenant_segment,
                scope=scope,
                issued_at=self.now(),
                expires_in=app.device_code_expires_in,
                interval=app.device_code_interval,
            )
            self.device_codes[device.device_code] = device
            return device

    def device_by_user_code(self, user_code: str) -> DeviceCode | None:
        wanted = "".join(ch for ch in user_code.upper() if ch.isalnum())
        for device in self.device_codes.values():
            if device.user_code == wanted:
                return device
        return None

    def new_refresh_token(self, *, client_id: str, user_oid: str, tenant_id: str) -> RefreshToken:
        with self.lock:
            token = RefreshToken("1.AQ" + secrets.token_urlsafe(160), client_id, user_oid, tenant_id, self.now())
            self.refresh_tokens[token.token] = token
            return token

    def new_session(self, user_oid: str) -> str:
        with self.lock:
            session_id = secrets.token_urlsafe(32)
            self.sessions[session_id] = user_oid
            return session_id

    def new_interaction(self, **fields: Any) -> Interaction:
        with self.lock:
            interaction = Interaction(id=str(uuid.uuid4()), **fields)
            self.interactions[interaction.id] = interaction
            return interaction

    # --- faults and the request log -------------------------------------------------------------------

    def take_fault(self, endpoint: str) -> Fault | None:
        with self.lock:
            queue = self.faults.get(endpoint)
            if not queue:
                return None
            fault = queue[0]
            if fault.skip > 0:
                fault.skip -= 1
                return None
            fault.count -= 1
            if fault.count <= 0:
                queue.pop(0)
            return fault

    # --- tokens ---------------------------------------------------------------------------------------

    def issuer(self, tenant_id: str) -> str:
        return f"{self.https_base}/{tenant_id}/v2.0"

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims,
            self.signing_key.private_key,
            algorithm="RS256",
            headers={"kid": self.signing_key.kid, "x5t": self.signing_key.kid, "typ": "JWT"},
        )

    def opaque_token(self, claims: dict[str, Any]) -> str:
        """An access token that is not a JWT (as Microsoft issues for some resources): only we can read it."""
        with self.lock:
            token = "EwB" + secrets.token_urlsafe(96)
            self.opaque_tokens[token] = claims
            return token

    def issued_claims(self, token: str) -> dict[str, Any] | None:
        """What a token this emulator issued says (one of its opaque tokens, or a JWT it signed), checking nothing
        else (audience, expiry: the caller's rules); None for any other token."""
        opaque = self.opaque_tokens.get(token)
        if opaque is not None:
            return dict(opaque)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.signing_key.private_key.public_key(),
                algorithms=["RS256"],
                options={"verify_aud": False, "verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError:
            return None
        return claims

    def access_token_claims(self, token: str) -> dict[str, Any] | None:
        """The claims of an access token this emulator issued and that has not expired, else None."""
        claims = self.issued_claims(token)
        # Only access tokens carry ``appid``; id tokens are signed with the same key but are not bearer tokens.
        if claims is None or "appid" not in claims or claims.get("exp", 0) <= self.now():
            return None
        return claims


_current: State | None = None


def set_current(state: State) -> None:
    global _current
    _current = state


def current() -> State:
    if _current is None:
        raise RuntimeError("the emulator state is not initialised")
    return _current


def access_token_claims(token: str) -> dict[str, Any] | None:
    """For in-process servers (SMTP, introspection): validate an access token against the running emulator."""
    return current().access_token_claims(token)
