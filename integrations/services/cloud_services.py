"""My Settings > Cloud Services: a user connects their OneDrive through the enabled OneDrive feature.

The sign-in uses the feature's app (authorization code with PKCE, answered by form_post on the portal's
registered callback) and is taken only in the browser that started it (integrations.services.flows): the code
is redeemed there, never in the anonymous callback. The token goes to the token store, bound to feature,
directory and user.
Connecting clears the "reconnect" flag set when the organization left the legacy app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from audit.services import audit_record
from integrations.binding import FlowStart
from integrations.choices import FlowKind
from integrations.errors import IntegrationError
from integrations.models import Feature
from integrations.services.flows import (
    flow_close,
    flow_take,
    sign_in_redeem,
    sign_in_start,
)
from integrations.services.permissions import feature_delegated_seen
from integrations.services.tokens import feature_user_token_save
from microsoft import errors as microsoft_errors
from microsoft import identity

if TYPE_CHECKING:
    from accounts.models import User


def _authority(feature: Feature) -> str:
    # Without a directory any organization and personal accounts may connect.
    return feature.directory_id or "common"


def user_connect_start(*, feature: Feature, user: User) -> FlowStart:
    """Where to send the user to sign in for the feature (one Microsoft call for discovery)."""
    if not feature.enabled or feature.tenant_id != user.tenant_id:
        raise IntegrationError("OneDrive is not enabled in your organization's Roger. Ask your administrator.")
    return sign_in_start(
        kind=FlowKind.USER_CONNECT,
        person=user,
        integration=feature.integration,
        feature=feature,
        app=feature.app_registration.credentials(),
        authority=_authority(feature),
        scopes=feature.spec.delegated,
    )


def user_connect_finish(*, state: str, browser_key: str, answer_key: str, user: User | None) -> str:
    """Redeem the sign-in of a connection this user started in this browser and store the connection; returns
    the account connected. Raises IntegrationError (FlowRefused, ForeignBrowser, SignInRequired)."""
    flow = flow_take(
        state=state, kinds=(FlowKind.USER_CONNECT,), browser_key=browser_key, answer_key=answer_key, person=user
    )
    assert user is not None  # flow_take raises SignInRequired otherwise
    assert flow.feature_id is not None  # every user connection is started for a feature
    feature = Feature.objects.select_related("app_registration", "tenant", "integration").get(pk=flow.feature_id)
    try:
        grant = sign_in_redeem(
            flow,
            app=feature.app_registration.credentials(),
            authority=_authority(feature),
            expected_tenant_id=feature.directory_id or None,
            allow_personal_accounts=not feature.directory_id,
        )
    except microsoft_errors.MicrosoftError as exc:
        flow_close(flow, error=exc.message)
        raise IntegrationError(exc.message) from exc
    with transaction.atomic():
        username, directory_id = _connection_save(user, feature, grant)
        flow_close(flow, result_username=username, result_directory_id=directory_id, result_scopes=list(grant.scopes))
        if user.microsoft_reconnect_required:
            user.microsoft_reconnect_required = False
            user.save(update_fields=["microsoft_reconnect_required"])
        audit_record(
            tenant=flow.tenant,
            actor=user,
            action="integration.user_connected",
            target=feature,
            details={"account": username, "directory_id": directory_id},
        )
    return username


def _connection_save(user: User, feature: Feature, grant: identity.TokenGrant) -> tuple[str, str]:
    directory_id = grant.account.tenant_id if grant.account else feature.directory_id
    feature_user_token_save(feature=feature, user=user, directory_id=directory_id, grant=grant)
    feature_delegated_seen(feature=feature, scopes=grant.scopes)
    return (grant.account.username if grant.account else ""), directory_id


def reconnect_notice_dismiss(*, user: User) -> None:
    """The user read the notice and has nothing to reconnect (OneDrive is not enabled any more)."""
    if user.microsoft_reconnect_required:
        user.microsoft_reconnect_required = False
        user.save(update_fields=["microsoft_reconnect_required"])
        audit_record(actor=user, action="integration.reconnect_notice_dismissed", target=user)
