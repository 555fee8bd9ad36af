"""Select tenant (sign-in with the operator's Login app) and per-feature admin consent.

Each round trip is an `AuthorizationFlow` row keyed by its state: single use, bound to the admin who started
it, expiring. A callback only records Microsoft's answer; the change is applied when the admin who started
the flow confirms it from their own session, so a forged, replayed or foreign state changes nothing.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from audit.services import audit_record
from integrations.choices import AppKind, ConsentState, FlowKind, FlowStatus
from integrations.errors import FlowRefused, IntegrationError
from integrations.features import APPLICATION_IDS, short_permission
from integrations.models import AuthorizationFlow, Feature, Integration, ReapplyRun
from integrations.services.features import feature_enable
from integrations.services.tokens import (
    feature_app_token_acquire,
    feature_app_tokens_save,
    feature_user_tokens_retry,
)
from microsoft import errors as microsoft_errors
from microsoft import identity

if TYPE_CHECKING:
    from accounts.models import User

FLOW_LIFETIME = timedelta(minutes=15)
# The Login app signs the admin in through the multi-organization endpoint: personal accounts are refused
# by Microsoft there, and again by the id token check.
SELECT_TENANT_AUTHORITY = "organizations"
SELECT_TENANT_SCOPES = ("User.Read",)


@dataclass(frozen=True)
class FlowOutcome:
    integration: Integration
    feature: Feature | None = None
    error: str = ""
    notice: str = ""


def callback_url(name: str) -> str:
    """The redirect URI registered on the apps: the portal's public address, never the request's Host."""
    return settings.PORTAL_BASE_URL.rstrip("/") + reverse(name)


def _explained(exc: microsoft_errors.MicrosoftError) -> IntegrationError:
    return IntegrationError(exc.message)


def _callback_error(params: dict[str, Any]) -> microsoft_errors.MicrosoftError:
    error = microsoft_errors.classify(
        {"error": params.get("error", ""), "error_description": params.get("error_description", "")}
    )
    if error.code is None and params.get("error") in ("access_denied", "consent_required"):
        return microsoft_errors.ReconsentRequired(
            "The sign-in was cancelled at Microsoft, so no directory was selected. Start Select tenant again and "
            "sign in with an administrator of the organization."
        )
    return error


# --- flow rows ---------------------------------------------------------------------------------------


def _locked_flow(state: str, kind: str) -> AuthorizationFlow | None:
    if not state:
        return None
    return (
        AuthorizationFlow.objects.select_for_update(of=("self",))
        .select_related("integration", "feature", "feature__app_registration")
        .filter(state=state, kind=kind)
        .first()
    )


def _refuse_unusable(flow: AuthorizationFlow | None, admin: User, what: str) -> AuthorizationFlow:
    if flow is None or flow.tenant_id != admin.tenant_id:
        raise FlowRefused(
            f"This {what} answer does not belong to any request started in this portal (it may be forged or "
            f"from an old browser tab), so nothing changed. Start the {what} again."
        )
    if flow.admin_id != admin.pk:
        raise FlowRefused(
            f"This {what} answer belongs to a request started by another administrator, so it was ignored and "
            f"nothing changed. Start the {what} yourself."
        )
    if flow.finished_at is not None:
        raise FlowRefused(f"This {what} answer was already used, so nothing changed. Start the {what} again.")
    return flow


def _refuse_expired(flow: AuthorizationFlow, what: str) -> None:
    if flow.is_expired():
        raise FlowRefused(f"The {what} took longer than 15 minutes and expired, so nothing changed. Start it again.")


# --- Select tenant -----------------------------------------------------------------------------------


def select_tenant_start(*, integration: Integration, admin: User) -> str:
    """Where to send the admin's browser to sign in with the operator's Login app (one Microsoft call)."""
    if not integration.is_automatic:
        raise IntegrationError("Select tenant is part of Create automatically; this integration was set up manually.")
    if integration.directory_id:
        raise IntegrationError(
            "This integration is already connected to a Microsoft directory. To connect another directory, add "
            "another integration."
        )
    app = integration.app_registrations.get(kind=AppKind.OPERATOR_SPLIT, operator_app="LOGIN").credentials()
    try:
        started = identity.auth_code_start(
            app=app,
            tenant=SELECT_TENANT_AUTHORITY,
            scopes=SELECT_TENANT_SCOPES,
            redirect_uri=callback_url("integration_callbacks:select_tenant"),
            prompt="select_account",
        )
    except microsoft_errors.MicrosoftError as exc:
        raise _explained(exc) from exc
    AuthorizationFlow.objects.create(
        state=started.flow["state"],
        kind=FlowKind.SELECT_TENANT,
        tenant=integration.tenant,
        admin=admin,
        integration=integration,
        msal_flow=json.dumps(started.flow),
        expires_at=timezone.now() + FLOW_LIFETIME,
    )
    return started.auth_uri


def select_tenant_answer(*, params: dict[str, Any]) -> None:
    """Record Microsoft's form_post answer (no session here: the state row names the admin)."""
    with transaction.atomic():
        flow = _locked_flow(str(params.get("state", "")), FlowKind.SELECT_TENANT)
        if flow is None or flow.status != FlowStatus.STARTED or flow.is_expired():
            return  # the admin's confirmation request explains it
        flow.status = FlowStatus.ANSWERED
        flow.answered_at = timezone.now()
        flow.save(update_fields=["status", "answered_at"])
    app = flow.integration.app_registrations.get(operator_app="LOGIN").credentials()
    try:
        if params.get("error"):
            raise _callback_error(params)
        grant = identity.auth_code_finish(
            app=app,
            tenant=SELECT_TENANT_AUTHORITY,
            flow=json.loads(flow.msal_flow),
            callback_params=params,
            expected_tenant_id=None,
            allow_personal_accounts=False,
        )
        flow.result_directory_id = str(grant.id_token_claims["tid"]).lower()
        flow.result_username = str(grant.id_token_claims.get("preferred_username", ""))[:320]
        flow.result_scopes = list(grant.scopes)
    except microsoft_errors.MicrosoftError as exc:
        flow.error_message = exc.message
    flow.msal_flow = ""  # the PKCE verifier and nonce are spent
    flow.save()


@transaction.atomic
def select_tenant_finish(*, state: str, admin: User) -> FlowOutcome:
    """Bind the integration to the directory of the validated id token, for the admin who started it."""
    flow = _refuse_unusable(_locked_flow(state, FlowKind.SELECT_TENANT), admin, "Select tenant")
    if flow.status == FlowStatus.STARTED:
        _refuse_expired(flow, "Select tenant")
        raise FlowRefused("Microsoft has not answered this Select tenant yet. Start it again.")
    flow.finished_at = timezone.now()
    integration = Integration.objects.select_for_update().get(pk=flow.integration_id)
    if flow.error_message:
        flow.status = FlowStatus.FAILED
        flow.save(update_fields=["status", "finished_at"])
        audit_record(
            tenant=integration.tenant,
            actor=admin,
            action="integration.tenant_selection_failed",
            target=integration,
            details={"reason": flow.error_message},
        )
        return FlowOutcome(integration=integration, error=flow.error_message)
    if integration.directory_id:
        raise FlowRefused("This integration is already connected to a Microsoft directory; nothing changed.")
    integration.directory_id = flow.result_directory_id
    integration.directory_connected_by = flow.result_username
    integration.save(update_fields=["directory_id", "directory_connected_by", "updated_at"])
    for feature in integration.features.select_for_update():
        feature.directory_id = integration.directory_id
        feature.consent_state = ConsentState.NOT_GRANTED
        feature.consent_reason = ""
        if feature.feature_type == "login":
            feature.granted_delegated = flow.result_scopes  # the `scope` of the sign-in's token response
        feature.save()
    flow.status = FlowStatus.DONE
    flow.save(update_fields=["status", "finished_at"])
    audit_record(
        tenant=integration.tenant,
        actor=admin,
        action="integration.tenant_selected",
        target=integration,
        details={"directory_id": integration.directory_id, "signed_in_as": flow.result_username},
    )
    notice = f"Connected to the Microsoft directory {integration.directory_id}. Now grant consent to each feature."
    return FlowOutcome(integration=integration, notice=notice)


# --- admin consent ------------------------------------------------------------------------------------


def consent_start(
    *, feature: Feature, admin: User, enable_after: bool = False, reapply_run: ReapplyRun | None = None
) -> str:
    """Where a Global Administrator grants the feature's app its permissions in the directory."""
    integration = feature.integration
    if integration.awaits_tenant_selection:
        raise IntegrationError("Select the tenant first, then grant consent.")
    if not integration.directory_id:
        raise IntegrationError(
            "Admin consent is given in one Microsoft directory: edit the integration and enter the Directory "
            "(Tenant) ID first. Without it, each user consents when they sign in."
        )
    state = secrets.token_urlsafe(32)
    try:
        url = identity.admin_consent_url(
            client_id=feature.app_registration.client_id,
            tenant=integration.directory_id,
            redirect_uri=callback_url("integration_callbacks:consent"),
            state=state,
        )
    except microsoft_errors.MicrosoftError as exc:
        raise _explained(exc) from exc
    AuthorizationFlow.objects.create(
        state=state,
        kind=FlowKind.ADMIN_CONSENT,
        tenant=integration.tenant,
        admin=admin,
        integration=integration,
        feature=feature,
        enable_after=enable_after,
        reapply_run=reapply_run,
        expires_at=timezone.now() + FLOW_LIFETIME,
    )
    return url


def _consume_consent_flow(state: str, admin: User) -> AuthorizationFlow:
    with transaction.atomic():
        flow = _refuse_unusable(_locked_flow(state, FlowKind.ADMIN_CONSENT), admin, "consent")
        _refuse_expired(flow, "consent")
        flow.status = FlowStatus.ANSWERED
        flow.answered_at = flow.finished_at = timezone.now()
        flow.save(update_fields=["status", "answered_at", "finished_at"])
    return flow


def _split_granted(granted: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The admin-consent record names delegated and application permissions together; Graph app roles are
    told apart by name."""
    names = [short_permission(name) for name in granted]
    application = [name for name in names if name in APPLICATION_IDS]
    return [name for name in names if name not in APPLICATION_IDS], application


def _consent_failed(flow: AuthorizationFlow, admin: User, message: str, code: int | None) -> FlowOutcome:
    feature = flow.feature
    assert feature is not None
    with transaction.atomic():
        locked = Feature.objects.select_for_update().get(pk=feature.pk)
        if locked.consent_state != ConsentState.GRANTED:  # a failed re-consent leaves the earlier grant in place
            locked.consent_reason, locked.consent_error_code = message, code
            locked.save(update_fields=["consent_reason", "consent_error_code", "updated_at"])
        flow.status, flow.error_message = FlowStatus.FAILED, message
        flow.save(update_fields=["status", "error_message"])
        audit_record(
            tenant=flow.tenant,
            actor=admin,
            action="integration.consent_failed",
            target=feature,
            details={"reason": message, "code": code},
        )
    return FlowOutcome(integration=flow.integration, feature=feature, error=message)


def consent_finish(*, params: dict[str, Any], admin: User) -> FlowOutcome:
    """Record the admin consent answer for the feature (and the features sharing its app); one Microsoft call
    fetches the app-only token of features with application permissions, proving the secret works. A step of
    Reapply Consents records its result per feature on the run."""
    from integrations.services.reapply import reapply_step_record

    flow = _consume_consent_flow(str(params.get("state", "")), admin)
    outcome = _consent_answer(flow, params, admin)
    if flow.reapply_run_id is not None:
        return reapply_step_record(flow=flow, outcome=outcome)
    return outcome


def _consent_answer(flow: AuthorizationFlow, params: dict[str, Any], admin: User) -> FlowOutcome:
    feature, integration = flow.feature, flow.integration
    assert feature is not None
    try:
        result = identity.admin_consent_parse(params=params, expected_state=flow.state)
    except microsoft_errors.MicrosoftError as exc:
        return _consent_failed(flow, admin, exc.message, exc.code)
    if result.tenant_id != integration.directory_id:
        return _consent_failed(
            flow,
            admin,
            f"The consent was granted in another Microsoft directory ({result.tenant_id}) than the one this "
            f"integration is connected to ({integration.directory_id}). Grant consent again and sign in with an "
            "administrator of the connected directory.",
            None,
        )
    app = feature.app_registration
    siblings = list(Feature.objects.filter(app_registration=app).select_related("app_registration", "tenant"))
    app_features = [f for f in siblings if f.spec.application]
    grant, token_error = None, None
    if app_features:
        try:
            grant = feature_app_token_acquire(app=app, directory_id=integration.directory_id)
        except microsoft_errors.MicrosoftError as exc:
            token_error = exc
    delegated, application = _split_granted(result.scopes)
    with transaction.atomic():
        for sibling in siblings:
            failed = token_error is not None and sibling in app_features
            sibling.consent_state = ConsentState.ERROR if failed else ConsentState.GRANTED
            sibling.consent_reason = token_error.message if failed and token_error else ""
            sibling.consent_error_code = token_error.code if failed and token_error else None
            sibling.granted_delegated = sorted(set(sibling.granted_delegated) | set(delegated))
            sibling.granted_application = application
            sibling.consent_granted_at = timezone.now()
            sibling.consent_granted_by = admin.email
            sibling.save()
        if grant is not None:
            feature_app_tokens_save(features=app_features, grant=grant, actor=admin)
        # Users' tokens that stopped for want of consent can work again: refresh them in the background.
        feature_user_tokens_retry(features=siblings, actor=admin)
        flow.status = FlowStatus.DONE
        flow.save(update_fields=["status"])
        audit_record(
            tenant=integration.tenant,
            actor=admin,
            action="integration.consent_granted",
            target=feature,
            details={
                "client_id": app.client_id,
                "directory_id": result.tenant_id,
                "features": [f.feature_type for f in siblings],
                "granted": list(result.scopes),
                "token_error": token_error.code if token_error else None,
            },
        )
    feature.refresh_from_db()
    if token_error is not None:
        return FlowOutcome(integration=integration, feature=feature, error=token_error.message)
    return _enable_after_consent(flow, feature, admin)


def _enable_after_consent(flow: AuthorizationFlow, feature: Feature, admin: User) -> FlowOutcome:
    label = feature.spec.label
    if not flow.enable_after:
        return FlowOutcome(integration=flow.integration, feature=feature, notice=f"Consent granted for {label}.")
    try:
        feature_enable(feature=feature, actor=admin)
    except IntegrationError as exc:
        return FlowOutcome(
            integration=flow.integration,
            feature=feature,
            error=f"Consent granted for {label}, but it was not enabled: {exc.message}",
        )
    return FlowOutcome(integration=flow.integration, feature=feature, notice=f"Consent granted and {label} enabled.")
