"""Proving that a Microsoft directory belongs to a Roger tenant: an administrator of it signs in.

The operator's apps (the split apps of Create automatically, the legacy app) are multi-tenant and consented by
many customers, and their secret is ours: with them, a Directory (Tenant) ID is only a claim. A directory counts
as proven for an integration when an id token, validated as every sign-in is (signature, issuer, audience, nonce,
expiry), shows an administrator of that directory (`tid`, an administrator role in `wids`) signing in, in a flow
that a tenant admin of this Roger tenant started in their own browser. Select tenant does it while it chooses the
directory; Prove directory does it for a directory that was typed (the legacy Application ID) or connected before
the rule. A customer's own app with its own secret needs no proof: Microsoft issues its tokens only where that
customer consented.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from integrations.binding import FlowStart
from integrations.choices import AppKind, ConsentState, DirectoryProof, FlowKind
from integrations.errors import IntegrationError
from integrations.models import AppRegistration, AuthorizationFlow, Feature, Integration
from integrations.services.flows import (
    FlowOutcome,
    flow_close,
    flow_take,
    sign_in_redeem,
    sign_in_start,
)
from microsoft import directory_roles
from microsoft import errors as microsoft_errors

if TYPE_CHECKING:
    from accounts.models import User

# The Login app signs the admin in through the multi-organization endpoint: personal accounts are refused
# by Microsoft there, and again by the id token check.
SELECT_TENANT_AUTHORITY = "organizations"
PROOF_SCOPES = ("User.Read",)
WHO_CAN_PROVE = directory_roles.names(directory_roles.ADMINISTRATOR_ROLES)
CANCELLED = (
    "The sign-in was cancelled at Microsoft, so nothing was connected. Start again and sign in with an "
    "administrator of the organization."
)
ACTIVATE_PIM = (
    "If your role is only eligible in Privileged Identity Management, activate it first (Azure portal > Privileged "
    "Identity Management > My roles > Activate), then start again."
)


def proof_missing_message(integration: Integration) -> str:
    """Why a feature of this integration cannot get consent (or be enabled) yet."""
    if integration.proven_before_rule:
        return (
            "This Microsoft directory was connected before Roger asked administrators to prove it. Its features keep "
            "working; to grant a consent, click Prove now and sign in with an administrator of the directory first."
        )
    return (
        f"Prove the directory first: click Prove directory and sign in with an administrator of "
        f"{integration.directory_id}. The Roger application is used by many organizations, so a Directory (Tenant) "
        "ID alone does not show that the directory is yours."
    )


def consent_proof_check(feature: Feature) -> None:
    """A new consent through an operator-owned app needs the directory proven by an administrator's sign-in."""
    integration = feature.integration
    if feature.app_registration.is_operator_owned and not integration.directory_proven_by_sign_in:
        raise IntegrationError(proof_missing_message(integration))


def enable_proof_check(feature: Feature) -> None:
    """Enabling a feature of an operator-owned app needs the directory proven (or connected before the rule)."""
    integration = feature.integration
    if feature.app_registration.is_operator_owned and integration.directory_id and not integration.directory_proven:
        raise IntegrationError(proof_missing_message(integration))


def _proof_app(integration: Integration) -> AppRegistration:
    """Create automatically proves with the Login app; the legacy Application ID with the legacy app, which the
    directory already knows. Both are registered to send directory roles (`wids`)."""
    if integration.is_automatic:
        return integration.app_registrations.get(kind=AppKind.OPERATOR_SPLIT, operator_app="LOGIN")
    app = integration.app_registrations.filter(kind=AppKind.LEGACY, operator_app="LEGACY").first()
    if app is None:
        raise IntegrationError("This integration uses your own application, which proves its directory itself.")
    return app


def _start(*, integration: Integration, admin: User, kind: str, authority: str) -> FlowStart:
    return sign_in_start(
        kind=kind,
        person=admin,
        integration=integration,
        app=_proof_app(integration).credentials(),
        authority=authority,
        scopes=PROOF_SCOPES,
    )


def select_tenant_start(*, integration: Integration, admin: User) -> FlowStart:
    """Where to send the admin's browser to sign in with the operator's Login app (one Microsoft call)."""
    if not integration.is_automatic:
        raise IntegrationError("Select tenant is part of Create automatically; this integration was set up manually.")
    if integration.directory_id:
        raise IntegrationError(
            "This integration is already connected to a Microsoft directory. To connect another directory, add "
            "another integration."
        )
    return _start(
        integration=integration,
        admin=admin,
        kind=FlowKind.SELECT_TENANT,
        authority=SELECT_TENANT_AUTHORITY,
    )


def directory_proof_start(*, integration: Integration, admin: User) -> FlowStart:
    """Where an administrator of the integration's directory signs in to prove it (one Microsoft call)."""
    if integration.awaits_tenant_selection:
        raise IntegrationError("Select the tenant first: that sign-in proves the directory too.")
    if not integration.directory_id or not integration.uses_operator_app:
        raise IntegrationError("There is no directory to prove: this integration's application proves itself.")
    # Signing in at the directory's own endpoint: Microsoft accepts only that directory's accounts.
    return _start(
        integration=integration,
        admin=admin,
        kind=FlowKind.PROVE_DIRECTORY,
        authority=integration.directory_id,
    )


# --- the finish step ----------------------------------------------------------------------------------------


def sign_in_finish(*, state: str, browser_key: str, answer_key: str, admin: User | None) -> FlowOutcome:
    """Redeem the sign-in of a Select tenant or Prove directory taken in its own browser, and record the proof
    when the id token shows an administrator of the directory."""
    flow = flow_take(
        state=state,
        kinds=(FlowKind.SELECT_TENANT, FlowKind.PROVE_DIRECTORY),
        browser_key=browser_key,
        answer_key=answer_key,
        person=admin,
    )
    assert admin is not None  # flow_take raises SignInRequired otherwise
    integration = flow.integration
    try:
        claims, scopes, role = _administrator_sign_in(flow)
    except microsoft_errors.MicrosoftError as exc:
        return _failed(flow, admin, exc.message)
    except IntegrationError as exc:
        return _failed(flow, admin, exc.message)
    username = str(claims.get("preferred_username", ""))[:320]
    directory_id = str(claims["tid"]).lower()
    with transaction.atomic():
        integration = Integration.objects.select_for_update().get(pk=integration.pk)
        if flow.kind == FlowKind.SELECT_TENANT:
            if integration.directory_id:
                return _failed(flow, admin, "This integration is already connected to a Microsoft directory.")
            _connect(integration, directory_id, username, scopes)
        elif integration.directory_id.lower() != directory_id:
            return _failed(flow, admin, "The integration's Directory (Tenant) ID changed meanwhile. Prove it again.")
        _prove(integration, username, role)
        flow_close(
            flow,
            result_directory_id=directory_id,
            result_username=username,
            result_scopes=scopes,
            result_role=role.name,
        )
        audit_record(
            actor=admin,
            action="integration.tenant_selected"
            if flow.kind == FlowKind.SELECT_TENANT
            else "integration.directory_proven",
            target=integration,
            details={"directory_id": directory_id, "signed_in_as": username, "role": role.name},
        )
    if flow.kind == FlowKind.SELECT_TENANT:
        notice = f"Connected to the Microsoft directory {directory_id}. Now grant consent to each feature."
    else:
        notice = f"Directory proved: {username} ({role.name}) is an administrator of {directory_id}."
    return FlowOutcome(integration=integration, notice=notice)


def _administrator_sign_in(
    flow: AuthorizationFlow,
) -> tuple[dict[str, object], list[str], directory_roles.DirectoryRole]:
    """The validated id token's claims, the granted scopes, and the administrator role the account holds."""
    proving = flow.kind == FlowKind.PROVE_DIRECTORY
    grant = sign_in_redeem(
        flow,
        app=_proof_app(flow.integration).credentials(),
        authority=flow.integration.directory_id if proving else SELECT_TENANT_AUTHORITY,
        expected_tenant_id=flow.integration.directory_id if proving else None,
        allow_personal_accounts=False,
        cancelled=CANCELLED,
    )
    claims = grant.id_token_claims
    username = str(claims.get("preferred_username", "")) or "The account you signed in with"
    if "wids" not in claims:
        raise IntegrationError(
            f"Microsoft did not say which roles {username} holds, so Roger cannot tell whether it is an "
            "administrator of the directory and nothing was connected. The Roger application must be registered "
            "with directory-role claims; contact support."
        )
    roles = directory_roles.administrator_roles_held(claims.get("wids") or ())  # type: ignore[arg-type]
    if not roles:
        raise IntegrationError(
            f"{username} is not an administrator of this Microsoft directory, so nothing was connected. Sign in "
            f"with a {WHO_CAN_PROVE}. {ACTIVATE_PIM}"
        )
    return claims, list(grant.scopes), roles[0]


def _connect(integration: Integration, directory_id: str, username: str, scopes: list[str]) -> None:
    integration.directory_id = directory_id
    integration.directory_connected_by = username
    integration.save(update_fields=["directory_id", "directory_connected_by", "updated_at"])
    for feature in integration.features.select_for_update():
        feature.directory_id = directory_id
        feature.consent_state = ConsentState.NOT_GRANTED
        feature.consent_reason = ""
        if feature.feature_type == "login":
            feature.granted_delegated = scopes  # the `scope` of the sign-in's token response
        feature.save()


def _prove(integration: Integration, username: str, role: directory_roles.DirectoryRole) -> None:
    integration.directory_proof = DirectoryProof.ADMIN_SIGN_IN
    integration.proven_directory_id = integration.directory_id.lower()
    integration.directory_proven_at = timezone.now()
    integration.directory_proven_by = username
    integration.directory_proven_role = role.name
    integration.save(
        update_fields=[
            "directory_proof",
            "proven_directory_id",
            "directory_proven_at",
            "directory_proven_by",
            "directory_proven_role",
            "updated_at",
        ]
    )


def _failed(flow: AuthorizationFlow, admin: User, message: str) -> FlowOutcome:
    flow_close(flow, error=message)
    action = (
        "integration.tenant_selection_failed" if flow.kind == FlowKind.SELECT_TENANT else "integration.proof_failed"
    )
    audit_record(
        actor=admin,
        action=action,
        target=flow.integration,
        details={"reason": message},
    )
    return FlowOutcome(integration=flow.integration, error=message)


def proof_before_rule_record(*, integration: Integration, actor: User | None) -> None:
    """Mark an integration whose directory was connected before proof was required (legacy settings migrated
    after the upgrade): it keeps working, and a new consent asks for the proof."""
    if not integration.directory_id or integration.directory_proof:
        return
    integration.directory_proof = DirectoryProof.BEFORE_RULE
    integration.proven_directory_id = integration.directory_id.lower()
    integration.directory_proven_at = timezone.now()
    integration.save(update_fields=["directory_proof", "proven_directory_id", "directory_proven_at", "updated_at"])
    audit_record(
        actor=actor,
        action="integration.directory_proven_before_rule",
        target=integration,
        details={"directory_id": integration.directory_id, "setup_mode": integration.setup_mode},
    )
