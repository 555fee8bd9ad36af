"""My Settings > Cloud Services: a user connects their OneDrive through the enabled OneDrive feature.

The sign-in uses the feature's app (authorization code with PKCE, answered by form_post on the portal's
registered callback) and the token goes to the token store, bound to feature, directory and user.
Connecting clears the "reconnect" flag set when the organization left the legacy app.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from integrations.choices import FlowKind, FlowStatus
from integrations.errors import FlowRefused, IntegrationError
from integrations.models import AuthorizationFlow, Feature
from integrations.selectors import FEATURE_OWNER_TYPE
from integrations.services.consent import FLOW_LIFETIME, callback_url
from microsoft import errors as microsoft_errors
from microsoft import identity

if TYPE_CHECKING:
    from accounts.models import User


def _authority(feature: Feature) -> str:
    # Without a directory any organization and personal accounts may connect.
    return feature.directory_id or "common"


def user_connect_start(*, feature: Feature, user: User) -> str:
    """Where to send the user to sign in for the feature (one Microsoft call for discovery)."""
    if not feature.enabled or feature.tenant_id != user.tenant_id:
        raise IntegrationError("OneDrive is not enabled in your organization's Roger. Ask your administrator.")
    try:
        started = identity.auth_code_start(
            app=feature.app_registration.credentials(),
            tenant=_authority(feature),
            scopes=feature.spec.delegated,
            redirect_uri=callback_url("integration_callbacks:select_tenant"),
            prompt="select_account",
        )
    except microsoft_errors.MicrosoftError as exc:
        raise IntegrationError(exc.message) from exc
    AuthorizationFlow.objects.create(
        state=started.flow["state"],
        kind=FlowKind.USER_CONNECT,
        tenant=feature.tenant,
        admin=user,
        integration=feature.integration,
        feature=feature,
        msal_flow=json.dumps(started.flow),
        expires_at=timezone.now() + FLOW_LIFETIME,
    )
    return started.auth_uri


def flow_kind_of(state: str) -> str | None:
    return AuthorizationFlow.objects.filter(state=state).values_list("kind", flat=True).first() if state else None


def user_connect_answer(*, params: dict[str, Any]) -> None:
    """Record Microsoft's form_post answer; the user's own request then saves it (see user_connect_finish)."""
    with transaction.atomic():
        flow = (
            AuthorizationFlow.objects.select_for_update(of=("self",))
            .select_related("admin", "feature__app_registration", "feature__tenant")
            .filter(state=str(params.get("state", "")), kind=FlowKind.USER_CONNECT, status=FlowStatus.STARTED)
            .first()
        )
        if flow is None or flow.is_expired():
            return
        flow.status, flow.answered_at = FlowStatus.ANSWERED, timezone.now()
        flow.save(update_fields=["status", "answered_at"])
    # The code is redeemed now, while it is fresh; the user's own request then confirms the outcome.
    feature = flow.feature
    assert feature is not None  # every user connection is started for a feature
    try:
        if params.get("error"):
            raise microsoft_errors.classify(
                {"error": params.get("error", ""), "error_description": params.get("error_description", "")}
            )
        grant = identity.auth_code_finish(
            app=feature.app_registration.credentials(),
            tenant=_authority(feature),
            flow=json.loads(flow.msal_flow),
            callback_params=params,
            expected_tenant_id=feature.directory_id or None,
            allow_personal_accounts=not feature.directory_id,
        )
        _connection_save(flow, feature, grant)
    except microsoft_errors.MicrosoftError as exc:
        flow.error_message = exc.message
    flow.msal_flow = ""
    flow.save(update_fields=["msal_flow", "error_message", "result_username", "result_directory_id"])


def _connection_save(flow: AuthorizationFlow, feature: Feature, grant: identity.TokenGrant) -> None:
    from credentials.choices import CredentialKind
    from credentials.services import credential_save

    user = flow.admin
    directory_id = grant.account.tenant_id if grant.account else feature.directory_id
    credential_save(
        tenant=feature.tenant,
        owner_type=FEATURE_OWNER_TYPE,
        owner_id=feature.pk,
        user=user,
        kind=CredentialKind.DELEGATED_CONFIDENTIAL,
        directory_id=directory_id,
        client_id=feature.app_registration.client_id,
        scopes=list(feature.spec.delegated),
        grant=grant,
        actor=user,
    )
    flow.result_username = grant.account.username if grant.account else ""
    flow.result_directory_id = directory_id


@transaction.atomic
def user_connect_finish(*, state: str, user: User) -> str:
    """Confirm the connection for the user who started it; returns the account connected."""
    flow = (
        AuthorizationFlow.objects.select_for_update(of=("self",))
        .select_related("feature")
        .filter(state=state, kind=FlowKind.USER_CONNECT)
        .first()
    )
    if flow is None or flow.admin_id != user.pk or flow.finished_at is not None:
        raise FlowRefused("This sign-in answer does not belong to a connection you started. Connect again.")
    if flow.status == FlowStatus.STARTED:
        raise FlowRefused("Microsoft has not answered this sign-in (it may have expired). Connect again.")
    flow.finished_at = timezone.now()
    flow.status = FlowStatus.FAILED if flow.error_message else FlowStatus.DONE
    flow.save(update_fields=["finished_at", "status"])
    if flow.error_message:
        raise IntegrationError(flow.error_message)
    if user.microsoft_reconnect_required:
        user.microsoft_reconnect_required = False
        user.save(update_fields=["microsoft_reconnect_required"])
    audit_record(
        tenant=flow.tenant,
        actor=user,
        action="integration.user_connected",
        target=flow.feature,
        details={"account": flow.result_username, "directory_id": flow.result_directory_id},
    )
    return flow.result_username


def reconnect_notice_dismiss(*, user: User) -> None:
    """The user read the notice and has nothing to reconnect (OneDrive is not enabled any more)."""
    if user.microsoft_reconnect_required:
        user.microsoft_reconnect_required = False
        user.save(update_fields=["microsoft_reconnect_required"])
        audit_record(tenant=user.tenant, actor=user, action="integration.reconnect_notice_dismissed", target=user)
