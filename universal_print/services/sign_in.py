"""A Printer Administrator's sign-in: turning printers on and off, and listing them.

Microsoft lets an app create and delete task triggers, and list a directory's printers and shares, only on behalf
of a signed-in Printer Administrator (or Global Administrator), through the app that created the task definition.
So the admin chooses on the page, then someone with that role signs in to the feature's app in this browser (a
flow of integrations.services.flows: bound to the person and the browser that started it). The answer is redeemed
here (one call) and the delegated token goes to the token store for the background work that applies the changes
(universal_print.services.ticks), which deletes it when done: Roger keeps no standing delegated power over the
directory's printers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from audit.services import audit_record
from credentials.choices import CredentialKind
from credentials.registry import OwnerType, owner_type_register
from credentials.services import credential_delete, credential_save
from integrations.binding import FlowStart
from integrations.choices import FlowKind
from integrations.errors import IntegrationError
from integrations.services.flows import (
    SignInFinished,
    SignInKind,
    flow_close,
    flow_take,
    sign_in_kind_register,
    sign_in_redeem,
    sign_in_start,
)
from integrations.services.permissions import feature_delegated_seen
from microsoft import errors as microsoft_errors
from microsoft.config import AppCredentials
from microsoft.universal_print import DELEGATED_SCOPES
from universal_print.choices import SignInStatus
from universal_print.models import AdminSignIn, Connection
from universal_print.services.connections import connection_for, connection_wake

if TYPE_CHECKING:
    from accounts.models import User
    from credentials.models import MicrosoftCredential
    from integrations.models import Feature

SIGN_IN_OWNER_TYPE = "universal_print_sign_in"
# A sign-in not applied by then is given up (its token is deleted): the person signs in again.
SIGN_IN_LIFETIME = timedelta(minutes=30)


def printer_admin_sign_in_start(*, feature: Feature, admin: User) -> FlowStart:
    """Where to send the admin's browser to sign in (one Microsoft call, for discovery)."""
    if not feature.has_consent:
        raise IntegrationError(
            f"Grant consent to {feature.app_registration.display_name} first (on the integration's page): the "
            "sign-in uses its permissions."
        )
    return sign_in_start(
        kind=FlowKind.PRINTER_ADMIN,
        person=admin,
        integration=feature.integration,
        app=feature.app_registration.credentials(),
        authority=feature.directory_id,
        scopes=DELEGATED_SCOPES,
        feature=feature,
    )


def printer_admin_sign_in_finish(
    *, state: str, browser_key: str, answer_key: str, person: User | None
) -> SignInFinished:
    """Redeem the sign-in this admin started in this browser; the changes are applied in the background."""
    flow = flow_take(
        state=state, kinds=(FlowKind.PRINTER_ADMIN,), browser_key=browser_key, answer_key=answer_key, person=person
    )
    assert person is not None and flow.feature is not None  # flow_take refuses otherwise; started for a feature
    feature = flow.feature
    try:
        # The person must sign in to the integration's own directory: another's printers are not this tenant's.
        grant = sign_in_redeem(
            flow,
            app=feature.app_registration.credentials(),
            authority=feature.directory_id,
            expected_tenant_id=feature.directory_id,
            allow_personal_accounts=False,
            cancelled="The sign-in was cancelled, so no printer was changed.",
        )
    except microsoft_errors.MicrosoftError as exc:
        flow_close(flow, error=exc.message)
        raise IntegrationError(exc.message) from exc
    account = grant.account.username if grant.account else ""
    with transaction.atomic():
        connection = connection_for(feature)
        sign_in = AdminSignIn.objects.create(
            tenant_id=feature.tenant_id, connection=connection, admin=person, account=account
        )
        credential_save(
            tenant=feature.tenant,
            owner_type=SIGN_IN_OWNER_TYPE,
            owner_id=sign_in.pk,
            kind=CredentialKind.DELEGATED_CONFIDENTIAL,
            directory_id=feature.directory_id,
            client_id=feature.app_registration.client_id,
            scopes=list(DELEGATED_SCOPES),
            grant=grant,
            actor=person,
        )
        feature_delegated_seen(feature=feature, scopes=grant.scopes)
        flow_close(flow, result_username=account, result_directory_id=feature.directory_id)
        audit_record(
            tenant=feature.tenant,
            actor=person,
            action="universal_print.printer_admin_signed_in",
            target=connection,
            details={"account": account, "directory_id": feature.directory_id},
        )
        connection_wake(connection)
    return SignInFinished(
        url=reverse("universal_print:page"),
        notice=f"Signed in as {account}. Roger is reading the printers and applying your choices.",
    )


def sign_in_close(sign_in: AdminSignIn, *, status: str, error: str = "", results: list[str] | None = None) -> None:
    """Record how the sign-in's changes went and forget its token."""
    sign_in.status, sign_in.error = status, error
    if results is not None:
        sign_in.results = results
    sign_in.finished_at = timezone.now()
    sign_in.save(update_fields=["status", "error", "results", "finished_at"])
    credential_delete(tenant=sign_in.connection.tenant, owner_type=SIGN_IN_OWNER_TYPE, owner_id=sign_in.pk)


def sign_ins_expire(connection: Connection) -> None:
    """Give up sign-ins that were not applied in time (their worker never came): the token goes."""
    stale = connection.sign_ins.filter(
        status__in=SignInStatus.open(), created_at__lt=timezone.now() - SIGN_IN_LIFETIME
    ).select_related("connection__tenant")
    for sign_in in stale:
        sign_in_close(
            sign_in,
            status=SignInStatus.FAILED,
            error="Roger could not apply the changes within 30 minutes of the sign-in. Sign in again.",
        )


# --- registration ----------------------------------------------------------------------------------------------


def _sign_in_of(credential: MicrosoftCredential) -> AdminSignIn:
    return AdminSignIn.objects.select_related("connection__feature__app_registration").get(
        pk=credential.owner_id, tenant_id=credential.tenant_id
    )


def _app_for(credential: MicrosoftCredential) -> AppCredentials:
    feature = _sign_in_of(credential).connection.feature
    if feature is None:
        raise LookupError("The Universal Print feature of this sign-in is gone.")
    return feature.app_registration.credentials()


def _label_for(credential: MicrosoftCredential) -> str:
    sign_in = _sign_in_of(credential)
    return f"Printer Administrator sign-in for Universal Print ({sign_in.account})"


def _fix_url_for(credential: MicrosoftCredential) -> str:
    return reverse("universal_print:page")


def sign_in_register() -> None:
    """The token store's owner type for the sign-in's token, and the sign-in kind the callback finishes here."""
    owner_type_register(
        OwnerType(name=SIGN_IN_OWNER_TYPE, app_for=_app_for, label_for=_label_for, fix_url_for=_fix_url_for)
    )
    sign_in_kind_register(
        SignInKind(
            kind=FlowKind.PRINTER_ADMIN, finish=printer_admin_sign_in_finish, back_url_name="universal_print:page"
        )
    )
