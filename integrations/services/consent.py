"""Per-feature admin consent (and, through integrations.services.directory_proof, Select tenant).

Each consent is an `AuthorizationFlow` (integrations.services.flows): single use, bound to the admin who started
it and to their browser, expiring. Its answer decides nothing by itself: it is accepted only for a flow taken in
the browser that started it, only when its `tenant` is the integration's (proven) directory, and what was
granted is then read from a fresh app token (integrations.services.permissions).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from integrations.binding import FlowStart
from integrations.choices import ConsentState, FlowKind, FlowStatus
from integrations.errors import IntegrationError
from integrations.models import AuthorizationFlow, Feature, ReapplyRun
from integrations.services.directory_proof import consent_proof_check
from integrations.services.features import feature_enable
from integrations.services.flows import FlowOutcome, callback_url, flow_create, flow_take
from integrations.services.permissions import roles_recheck_schedule, roles_record
from integrations.services.tokens import (
    feature_app_token_acquire,
    feature_app_tokens_save,
    feature_user_tokens_retry,
)
from microsoft import directory_roles, identity
from microsoft import errors as microsoft_errors

if TYPE_CHECKING:
    from accounts.models import User

__all__ = ["consent_finish", "consent_start"]


def _graph_application_note(feature: Feature) -> str:
    if not feature.spec.application:
        return ""
    who = directory_roles.names(directory_roles.APPLICATION_PERMISSION_CONSENTERS)
    return f" {feature.spec.label} needs a {who} to consent."


def consent_start(
    *, feature: Feature, admin: User, enable_after: bool = False, reapply_run: ReapplyRun | None = None
) -> FlowStart:
    """Where an administrator of the directory grants the feature's app its permissions there."""
    integration = feature.integration
    if integration.awaits_tenant_selection:
        raise IntegrationError("Select the tenant first, then grant consent.")
    if not integration.directory_id:
        raise IntegrationError(
            "Admin consent is given in one Microsoft directory: edit the integration and enter the Directory "
            "(Tenant) ID first. Without it, each user consents when they sign in."
        )
    consent_proof_check(feature)
    state = secrets.token_urlsafe(32)
    try:
        url = identity.admin_consent_url(
            client_id=feature.app_registration.client_id,
            tenant=integration.directory_id,
            redirect_uri=callback_url("integration_callbacks:consent"),
            state=state,
        )
    except microsoft_errors.MicrosoftError as exc:
        raise IntegrationError(exc.message) from exc
    key = flow_create(
        state=state,
        kind=FlowKind.ADMIN_CONSENT,
        person=admin,
        integration=integration,
        feature=feature,
        reapply_run=reapply_run,
        enable_after=enable_after,
    )
    return FlowStart(url=url, state=state, browser_key=key)


def consent_finish(*, params: dict[str, Any], browser_key: str, admin: User | None) -> FlowOutcome:
    """Accept the admin consent answer for the flow this browser started, then learn from Microsoft what it
    granted (one call: a fresh app-only token). A step of Reapply Consents records its result on the run."""
    # Imported here: Reapply Consents builds on consent_start, so its module imports this one.
    from integrations.services.reapply import reapply_step_record

    flow = flow_take(
        state=str(params.get("state", "")),
        kinds=(FlowKind.ADMIN_CONSENT,),
        browser_key=browser_key,
        answer_key=None,
        person=admin,
    )
    assert admin is not None  # flow_take raises SignInRequired otherwise
    outcome = _consent_answer(flow, params, admin)
    if flow.reapply_run_id is not None:
        return reapply_step_record(flow=flow, outcome=outcome)
    return outcome


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


def _answer_refusal(flow: AuthorizationFlow, tenant_id: str) -> str:
    """Why an answer Microsoft sent for this flow still cannot count (the integration may have changed meanwhile)."""
    feature, integration = flow.feature, flow.integration
    assert feature is not None
    integration.refresh_from_db()
    try:
        consent_proof_check(feature)
    except IntegrationError as exc:
        return exc.message
    if tenant_id != integration.directory_id.lower():
        return (
            f"The consent was granted in another Microsoft directory ({tenant_id}) than the one this integration "
            f"is connected to ({integration.directory_id}). Grant consent again and sign in with an administrator "
            "of the connected directory."
        )
    return ""


def _consent_answer(flow: AuthorizationFlow, params: dict[str, Any], admin: User) -> FlowOutcome:
    feature, integration = flow.feature, flow.integration
    assert feature is not None
    try:
        result = identity.admin_consent_parse(params=params, expected_state=flow.state)
    except microsoft_errors.MicrosoftError as exc:
        return _consent_failed(flow, admin, exc.message + _graph_application_note(feature), exc.code)
    refusal = _answer_refusal(flow, result.tenant_id)
    if refusal:
        return _consent_failed(flow, admin, refusal, None)
    app = feature.app_registration
    siblings = list(Feature.objects.filter(app_registration=app).select_related("app_registration", "tenant"))
    app_features = [f for f in siblings if f.spec.application]
    grant, token_error = None, None
    if app_features:
        try:
            # Always from the token endpoint, never a cached token: its roles are the evidence.
            grant = feature_app_token_acquire(app=app, directory_id=integration.directory_id)
        except microsoft_errors.MicrosoftError as exc:
            token_error = exc
    now = timezone.now()
    with transaction.atomic():
        for sibling in siblings:
            failed = token_error is not None and sibling in app_features
            sibling.consent_state = ConsentState.ERROR if failed else ConsentState.GRANTED
            sibling.consent_reason = token_error.message if failed and token_error else ""
            sibling.consent_error_code = token_error.code if failed and token_error else None
            sibling.refused_permissions = []  # a new consent: earlier refusals are no longer the last word
            sibling.consent_granted_at = now
            sibling.consent_granted_by = admin.email
            sibling.save()
        recheck = False
        if grant is not None:
            recheck = roles_record(features=app_features, grant=grant, now=now, after_consent=True)
            feature_app_tokens_save(features=app_features, grant=grant, actor=admin)
        if recheck:
            roles_recheck_schedule(app, now=now)
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
                "roles_in_app_token": sorted({r for f in app_features for r in f.granted_application}),
                "token_error": token_error.code if token_error else None,
            },
        )
    feature.refresh_from_db()
    if token_error is not None:
        return FlowOutcome(integration=integration, feature=feature, error=token_error.message)
    return _enable_after_consent(flow, feature)


def _enable_after_consent(flow: AuthorizationFlow, feature: Feature) -> FlowOutcome:
    label = feature.spec.label
    if not flow.enable_after:
        return FlowOutcome(integration=flow.integration, feature=feature, notice=f"Consent granted for {label}.")
    try:
        feature_enable(feature=feature)
    except IntegrationError as exc:
        return FlowOutcome(
            integration=flow.integration,
            feature=feature,
            error=f"Consent granted for {label}, but it was not enabled: {exc.message}",
        )
    return FlowOutcome(integration=flow.integration, feature=feature, notice=f"Consent granted and {label} enabled.")
