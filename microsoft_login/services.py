"""Login with Microsoft: someone signs in to Roger with their Microsoft work account (or links it to theirs).

The sign-in is a flow of integrations.services.flows started by nobody yet, bound to the browser that started it
(its cookie), answered on the integrations' sign-in callback and finished here. The id token is validated there
(JWKS signature, issuer of the directory in `tid`, audience, nonce, expiry); here it decides who that is: the
user of this Roger tenant holding the identity (directory id + object id, never a name or an address), or, if the
tenant allows it, a new plain user. The role is the portal's, never the token's; no token is kept.

A new user's address is the `email` claim only when Microsoft vouches for it: `xms_edov` (email domain owner
verified, an optional claim the app's manifest must ask for) is true, or the account is a personal Microsoft account.
The claim is the account's mail attribute, which any administrator of the person's directory can set to anybody's
address ("nOAuth"); the user principal name is no substitute (mutable, not an address for guests, and documented as
not for authorization decisions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.selectors import user_by_identity
from accounts.services import (
    IdentityTaken,
    sign_in_client_check,
    sign_in_client_failed,
    user_identity_link,
    user_register_from_identity,
)
from audit.services import audit_record
from integrations.binding import FlowStart
from integrations.choices import FeatureType, FlowKind
from integrations.errors import ForeignBrowser, IntegrationError
from integrations.features import feature_spec
from integrations.selectors import features_of_type
from integrations.services.flows import (
    SignInFinished,
    flow_answer_params,
    flow_close,
    flow_take,
    flow_tenant_of,
    sign_in_redeem,
    sign_in_start,
)
from microsoft import errors as microsoft_errors
from microsoft.config import PERSONAL_ACCOUNTS_TENANT_ID
from microsoft_login.choices import Refusal
from microsoft_login.errors import SignInRefused
from microsoft_login.models import LoginSettings
from microsoft_login.selectors import login_settings_of
from throttling.services import scope_limits, throttle_take

if TYPE_CHECKING:
    from accounts.models import Tenant, User
    from integrations.models import AuthorizationFlow, Feature
    from microsoft.identity import TokenGrant

# The sign-in asks for the `email` scope: without it a v2 id token has no `email` (nor `xms_edov`) claim.
SIGN_IN_EXTRA_SCOPES = ("email",)

AADSTS50020 = (
    "Microsoft's message AADSTS50020 means the same: the account is not part of the organisation Roger signs in "
    "with here."
)


@dataclass(frozen=True)
class SignedIn:
    """Who signs in, and what the sign-out needs to offer signing out of Microsoft too (no token)."""

    user: User
    authority: str
    account: str


def sign_in_authority(feature: Feature, settings: LoginSettings) -> str:
    """Where the person signs in. The operator's apps accept any organisation, so Roger itself checks the directory
    (and can say why it refuses, and record it); a customer's own app may be registered for its directory only."""
    directory = feature.integration.directory_id
    if directory and not feature.app_registration.is_operator_owned:
        return directory
    if not directory and settings.allow_personal_accounts:
        return "common"
    return "organizations"


def microsoft_sign_in_start(*, feature: Feature, login_hint: str = "", client: str | None) -> FlowStart:
    """Where to send a browser to sign in with this Login feature (one Microsoft call, for discovery). Limited per
    client and per tenant, and refused while the client is locked out of signing in (raises Throttled)."""
    sign_in_client_check(client=client)
    throttle_take(limits=scope_limits("microsoft_sign_in", tenant=feature.tenant.name, client=client))
    return _login_flow_start(
        feature, kind=FlowKind.MICROSOFT_SIGN_IN, person=None, login_hint=login_hint.strip() or None
    )


def _login_flow_start(feature: Feature, *, kind: FlowKind, person: User | None, login_hint: str | None) -> FlowStart:
    """A sign-in with the Login feature's app, at the authority the tenant's Login settings allow, for the
    feature's delegated scopes (a sign-in to Roger or a link to a signed-in user's account)."""
    settings = login_settings_of(tenant=feature.tenant)
    return sign_in_start(
        kind=kind,
        person=person,
        integration=feature.integration,
        app=feature.app_registration.credentials(),
        authority=sign_in_authority(feature, settings),
        scopes=(*feature_spec(feature.feature_type).delegated, *SIGN_IN_EXTRA_SCOPES),
        feature=feature,
        login_hint=login_hint,
    )


def microsoft_sign_in_finish(*, state: str, browser_key: str, answer_key: str, client: str | None) -> SignedIn:
    """The user this browser signs in as. Raises ForeignBrowser (another browser's answer: nothing happens),
    SignInRefused (audited, with the reason), FlowRefused (used, expired, unknown)."""
    try:
        flow = flow_take(
            state=state,
            kinds=(FlowKind.MICROSOFT_SIGN_IN,),
            browser_key=browser_key,
            answer_key=answer_key,
            person=None,
        )
    except ForeignBrowser:
        spent_in = flow_tenant_of(state)
        if spent_in is not None:
            _refused(spent_in, SignInRefused(Refusal.OTHER_BROWSER, ForeignBrowser().message), None, client)
        raise
    tenant = flow.tenant
    feature = _usable_feature(flow, tenant, client)
    settings = login_settings_of(tenant=tenant)
    authority = sign_in_authority(feature, settings)
    grant = _redeemed(flow, feature, authority, client)
    claims = grant.id_token_claims
    identity = _Identity.of(claims)
    flow_close(flow, result_username=identity.account, result_directory_id=identity.directory_id)
    refusal = _directory_refusal(feature, settings, identity)
    if refusal is not None:
        raise _refused(tenant, refusal, identity, client)
    user = user_by_identity(tenant=tenant, directory_id=identity.directory_id, object_id=identity.object_id)
    if user is None:
        user = _registered(tenant, feature, settings, identity, client)
    if not user.is_active:
        raise _refused(
            tenant,
            SignInRefused(
                Refusal.DEACTIVATED,
                f"Your Roger account ({user.email}) is deactivated, so you cannot sign in. Ask your Roger "
                "administrator to reactivate it if you still need it.",
            ),
            identity,
            client,
        )
    audit_record(
        tenant=tenant,
        actor=user,
        action="user.signed_in",
        target=user,
        details={"with": "microsoft", "account": identity.account, "directory_id": identity.directory_id},
    )
    return SignedIn(user=user, authority=authority, account=identity.account)


@dataclass(frozen=True)
class _Identity:
    """Who signed in. `email` is an address Microsoft verified, or empty; `unverified_email` is what the `email` claim
    said when Microsoft did not vouch for it (to tell the person, never to use)."""

    directory_id: str
    object_id: str
    account: str
    email: str
    name: str
    unverified_email: str = ""

    @classmethod
    def of(cls, claims: dict[str, Any]) -> _Identity:
        directory_id = str(claims.get("tid") or "").lower()
        claimed = str(claims.get("email") or "").strip()
        # Only a JSON true counts: absent (the manifest lacks the optional claim) or anything else is not verified.
        verified = claims.get("xms_edov") is True or directory_id == PERSONAL_ACCOUNTS_TENANT_ID
        return cls(
            directory_id=directory_id,
            object_id=str(claims.get("oid") or "").lower(),
            account=str(claims.get("preferred_username") or ""),
            email=claimed if verified and "@" in claimed else "",
            name=str(claims.get("name") or ""),
            unverified_email="" if verified else claimed,
        )

    @property
    def personal(self) -> bool:
        return self.directory_id == PERSONAL_ACCOUNTS_TENANT_ID


def _usable_feature(flow: AuthorizationFlow, tenant: Tenant, client: str | None) -> Feature:
    """The flow's Login feature, read again with its integration, app and tenant; refused when it was turned off
    meanwhile. `tenant` is the flow's, which the caller has loaded."""
    feature = flow.feature
    if feature is None or not feature.enabled:
        flow_close(flow, error="Login with Microsoft was turned off meanwhile.")
        raise _refused(
            flow.tenant,
            SignInRefused(
                Refusal.UNAVAILABLE,
                "Login with Microsoft was turned off for this organisation while you were signing in. Sign in with "
                "your password, or ask your Roger administrator.",
            ),
            None,
            client,
        )
    return features_of_type(tenant=tenant, feature_type=FeatureType.LOGIN).select_related("tenant").get(pk=feature.pk)


def _consent_url(feature: Feature) -> str:
    return reverse("integrations:detail", args=[feature.integration_id])


def _redeemed(flow: AuthorizationFlow, feature: Feature, authority: str, client: str | None) -> TokenGrant:
    """The code redeemed and the id token validated; Microsoft's refusals in plain words (audited)."""
    answer = flow_answer_params(flow)
    try:
        return sign_in_redeem(
            flow,
            app=feature.app_registration.credentials(),
            authority=authority,
            expected_tenant_id=None,  # checked below, so the refusal can say why and be recorded
            allow_personal_accounts=True,  # the same
        )
    except microsoft_errors.MicrosoftError as exc:
        flow_close(flow, error=exc.message)
        refusal = _refusal_for(exc, answer, feature)
        raise _refused(flow.tenant, refusal, None, client, code=exc.code) from exc


def _refusal_for(exc: microsoft_errors.MicrosoftError, answer: dict[str, str], feature: Feature) -> SignInRefused:
    if exc.code == 65004 or answer.get("error_subcode") == "cancel" or exc.error == "access_denied":
        return SignInRefused(
            Refusal.CANCELLED,
            "The sign-in with Microsoft was cancelled, so you are not signed in. Try again, or sign in with your "
            "password. If Microsoft asked for an administrator's approval, your organisation has not allowed Roger "
            "yet: ask your Roger administrator.",
            admin_url=_consent_url(feature),
        )
    if exc.code in (65001, 90094) or exc.error == "consent_required":
        return SignInRefused(
            Refusal.NOT_CONSENTED,
            "Your organisation's Microsoft administrator has not allowed Roger to sign people in yet (Microsoft's "
            "message AADSTS65001: the app has no consent), so you are not signed in. A Roger administrator can "
            "grant the consent on the integration's page.",
            admin_url=_consent_url(feature),
        )
    if exc.code == 50020:
        return SignInRefused(
            Refusal.OTHER_DIRECTORY,
            "The Microsoft account you used belongs to another organisation than the one this Roger tenant signs "
            f"in with, so you are not signed in. Sign in with your work account of that organisation. {AADSTS50020}",
        )
    return SignInRefused(Refusal.FAILED, f"Microsoft did not sign you in: {exc.message}")


def _directory_refusal(feature: Feature, settings: LoginSettings, identity: _Identity) -> SignInRefused | None:
    directory = feature.integration.directory_id.lower()
    if identity.personal and (directory or not settings.allow_personal_accounts):
        return SignInRefused(
            Refusal.PERSONAL_ACCOUNT,
            "You signed in with a personal Microsoft account (such as outlook.com), which this Roger tenant does not "
            "accept. Sign in with your work or school account.",
        )
    if directory and identity.directory_id != directory:
        return SignInRefused(
            Refusal.OTHER_DIRECTORY,
            f"The Microsoft account {identity.account} belongs to another organisation than the one this Roger "
            f"tenant signs in with, so you are not signed in. Sign in with your work account. {AADSTS50020}",
        )
    return None


def _registered(
    tenant: Tenant, feature: Feature, settings: LoginSettings, identity: _Identity, client: str | None
) -> User:
    """A new plain user for an unknown person, when the tenant allows it for their directory; else refused."""
    directory = feature.integration.directory_id.lower()
    allowed_here = bool(directory) or (
        identity.personal if identity.personal else identity.directory_id in _listed(settings)
    )
    if not (settings.allow_registration and allowed_here):
        raise _refused(
            tenant,
            SignInRefused(
                Refusal.UNKNOWN_USER,
                f"Roger has no user with the Microsoft account {identity.account} in this organisation, so you are "
                "not signed in. Ask your Roger administrator to add you (or to let users register themselves), or "
                "sign in with your password and link your Microsoft account in My Settings.",
            ),
            identity,
            client,
        )
    if not identity.email:
        raise _refused(tenant, _unverified_email_refusal(identity), identity, client)
    try:
        return user_register_from_identity(
            tenant=tenant,
            email=identity.email,
            full_name=identity.name,
            directory_id=identity.directory_id,
            object_id=identity.object_id,
        )
    except IdentityTaken:
        raise _refused(
            tenant,
            SignInRefused(
                Refusal.ADDRESS_TAKEN,
                f"A Roger user with the address {identity.email} already exists, and a sign-in with Microsoft never "
                "takes over an account. Sign in with your password, then link your Microsoft account in My "
                "Settings.",
            ),
            identity,
            client,
        ) from None


def _unverified_email_refusal(identity: _Identity) -> SignInRefused:
    if identity.unverified_email:
        return SignInRefused(
            Refusal.UNVERIFIED_EMAIL,
            f"Microsoft did not confirm that the email address of your account, {identity.unverified_email}, belongs "
            "to your organisation (its domain is not one your organisation has verified), so Roger cannot register "
            "you with it. Ask your Roger administrator to add you, or ask your organisation's Microsoft "
            "administrator to correct the email address of your account.",
        )
    return SignInRefused(
        Refusal.UNVERIFIED_EMAIL,
        "Microsoft did not confirm an email address for your account, so Roger cannot register you. Ask your Roger "
        "administrator to add you.",
    )


def _listed(settings: LoginSettings) -> set[str]:
    return {str(directory).lower() for directory in settings.registration_directory_ids}


def _refused(
    tenant: Tenant,
    refusal: SignInRefused,
    identity: _Identity | None,
    client: str | None,
    *,
    code: int | None = None,
) -> SignInRefused:
    """Record the refusal in the audit trail (its address from the request context), count it against `client`'s
    sign-in lockout as a wrong password would be, and hand it back to raise."""
    if client is not None:
        sign_in_client_failed(client=client)
    details: dict[str, Any] = {"reason": refusal.reason.value}
    if identity is not None:
        details.update(account=identity.account, directory_id=identity.directory_id, object_id=identity.object_id)
        if refusal.reason == Refusal.UNVERIFIED_EMAIL:
            details["unverified_email"] = identity.unverified_email  # empty: the token had no verified address
    if code:
        details["aadsts"] = code
    audit_record(tenant=tenant, actor=None, action="user.microsoft_sign_in_refused", details=details)
    return refusal


# --- linking a signed-in user's Microsoft account (My Settings) ---------------------------------------------------


def microsoft_link_start(*, feature: Feature, user: User) -> FlowStart:
    """Where to send a signed-in user's browser to sign in once with Microsoft, to link that account to theirs."""
    return _login_flow_start(feature, kind=FlowKind.MICROSOFT_LINK, person=user, login_hint=user.email)


def microsoft_link_finish(*, state: str, browser_key: str, answer_key: str, person: User | None) -> SignInFinished:
    """Link the Microsoft account signed in to the user who started this in this browser."""
    flow = flow_take(
        state=state, kinds=(FlowKind.MICROSOFT_LINK,), browser_key=browser_key, answer_key=answer_key, person=person
    )
    assert person is not None and person.tenant is not None  # flow_take refuses otherwise
    feature = _usable_feature(flow, person.tenant, None)
    settings = login_settings_of(tenant=person.tenant)
    grant = _redeemed(flow, feature, sign_in_authority(feature, settings), None)
    identity = _Identity.of(grant.id_token_claims)
    flow_close(flow, result_username=identity.account, result_directory_id=identity.directory_id)
    refusal = _directory_refusal(feature, settings, identity)
    if refusal is not None:
        raise IntegrationError(refusal.message)
    linked = (person.directory_tenant_id.lower(), person.directory_object_id.lower())
    if person.directory_object_id and linked != (identity.directory_id, identity.object_id):
        raise IntegrationError(
            "Your Roger account is already linked to another Microsoft account, so nothing changed. Ask your Roger "
            "administrator if that link is wrong."
        )
    try:
        with transaction.atomic():
            user_identity_link(
                user=person, directory_id=identity.directory_id, object_id=identity.object_id, actor=person
            )
    except IdentityTaken:
        raise IntegrationError(
            f"The Microsoft account {identity.account} is already linked to another Roger user, so nothing changed."
        ) from None
    return SignInFinished(
        url=reverse("microsoft_login:account"),
        notice=f"Your Microsoft account {identity.account} is linked: you can sign in with Microsoft now.",
    )


# --- settings ----------------------------------------------------------------------------------------------------


def login_settings_save(
    *,
    tenant: Tenant,
    allow_registration: bool,
    registration_directory_ids: list[str],
    allow_personal_accounts: bool,
) -> LoginSettings:
    settings, _ = LoginSettings.objects.update_or_create(
        tenant=tenant,
        defaults={
            "allow_registration": allow_registration,
            "registration_directory_ids": sorted({d.lower() for d in registration_directory_ids}),
            "allow_personal_accounts": allow_personal_accounts,
            "updated_at": timezone.now(),
        },
    )
    audit_record(
        tenant=tenant,
        action="microsoft_login.settings_changed",
        target=settings,
        details={
            "allow_registration": settings.allow_registration,
            "registration_directory_ids": settings.registration_directory_ids,
            "allow_personal_accounts": settings.allow_personal_accounts,
        },
    )
    return settings
