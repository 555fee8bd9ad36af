"""The device code connection of an external system, driven by Celery one short step at a time.

A connection starts as STARTING (a task resolves the tenant and asks Microsoft for a code), becomes PENDING
(one task per poll, queued for the moment Microsoft allows the next poll) and ends CONNECTED, EXPIRED,
DECLINED, FAILED or CANCELLED. Each step is background work (background.claims): its task claims the row,
calls Microsoft with no lock held, and writes the outcome under a lock only while its claim holds and the
connection was not cancelled meanwhile. While a call is in flight the row is held, so neither the sweep nor
a starting worker can start a second poll, which would redeem the approved code and make the first poll's
answer be dropped. Pages only read the row.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.mail import tenant_mail_send
from audit.services import audit_record
from background.claims import Claim, work_claim
from background.kinds import work_queue
from credentials.choices import CredentialKind
from credentials.errors import CredentialMismatch
from credentials.services import credential_save
from external_systems.choices import (
    ACTIVE_CONNECTION_STATUSES,
    POLLED_CONNECTION_STATUSES,
    ConnectionStatus,
    SystemStatus,
)
from external_systems.models import DeviceCodeConnection, ExternalSystem
from external_systems.services.systems import OWNER_TYPE
from external_systems.types import system_type
from microsoft import errors, identity
from microsoft.config import AppCredentials
from throttling.services import scope_limits, throttle_take

if TYPE_CHECKING:
    from accounts.models import User

__all__ = [
    "connection_advance",
    "connection_cancel",
    "connection_code_email",
    "connection_start",
    "connection_switch_confirm",
    "connection_switch_reject",
    "connections_polled",
]

logger = logging.getLogger(__name__)

START_ATTEMPTS = 5
TRANSIENT_BACKOFF_SECONDS = 10
# A step holds its connection this long: a few Microsoft calls of at most MICROSOFT_HTTP_TIMEOUT each.
STEP_LEASE = timedelta(minutes=2)
# A step due this long without being claimed lost its task (worker or broker gone): the sweep queues it.
SWEEP_GRACE = timedelta(seconds=30)

EXPIRED_MESSAGE = (
    "The code was not entered within its time limit (15 minutes). Use Start again for a new code and enter it promptly."
)
WRONG_DIRECTORY_MESSAGE = (
    "The account that signed in belongs to another Microsoft 365 directory than the Tenant ID of this system. "
    "Sign in with a mailbox of that directory, or correct the Tenant ID in the system's settings."
)
DECLINED_MESSAGE = (
    "The person signing in declined the request on Microsoft's page. If that was a mistake, use Start again and "
    "choose to continue."
)


# --- Starting ---------------------------------------------------------------------------------------------


def connection_start(*, system: ExternalSystem, actor: User, ip_address: str | None = None) -> DeviceCodeConnection:
    """Open a connection for the system, or return the one already under way (one per system)."""
    active = system.connections.filter(status__in=ACTIVE_CONNECTION_STATUSES).first()
    if active is not None:
        return active
    try:
        with transaction.atomic():
            connection = DeviceCodeConnection.objects.create(
                tenant=system.tenant, system=system, requested_by=actor, next_attempt_at=timezone.now()
            )
            audit_record(
                tenant=system.tenant,
                actor=actor,
                action="external_system.connection_started",
                target=system,
                details={"connection": connection.pk, "reconnect": system.is_connected},
                ip_address=ip_address,
            )
            _queue_advance(connection)
    except IntegrityError:  # another request opened one at the same moment: show that one
        return system.connections.get(status__in=ACTIVE_CONNECTION_STATUSES)
    return connection


def _begin(connection: DeviceCodeConnection, claim: Claim) -> None:
    """Resolve the directory and ask Microsoft for a device code (runs in Celery, no lock held)."""
    system = connection.system
    kind = system_type(system.system_type)
    assert kind is not None
    try:
        directory_id = system.directory_id or identity.tenant_resolve(system.directory_input)
        started = identity.device_flow_start(
            app=AppCredentials(system.client_id, None), tenant=directory_id, scopes=kind.scopes
        )
    except errors.TransientError as exc:
        _start_retry_later(connection, claim, exc)
        return
    except errors.MicrosoftError as exc:
        _fail(claim, exc)
        return
    with transaction.atomic():
        current = _held(claim, ConnectionStatus.STARTING)
        if current is None:
            return  # cancelled, or replaced, while Microsoft answered
        if not system.directory_id:
            ExternalSystem.objects.filter(pk=system.pk).update(directory_id=directory_id)
        current.status = ConnectionStatus.PENDING
        current.user_code = started.user_code
        current.verification_uri = started.verification_uri
        current.expires_at = started.expires_at
        current.interval = started.interval
        current.flow = json.dumps(started.flow)
        current.next_attempt_at = _next_poll_at(current, started.interval)
        current.error_code, current.error_message = None, ""
        claim.release_on(current)
        current.save()
        _queue_advance(current)
    logger.info("Device code issued for external system %s (connection %s)", system.pk, connection.pk)


def _start_retry_later(connection: DeviceCodeConnection, claim: Claim, exc: errors.MicrosoftError) -> None:
    if connection.attempts + 1 >= START_ATTEMPTS:
        _fail(claim, exc)
        return
    with transaction.atomic():
        current = _held(claim, ConnectionStatus.STARTING)
        if current is None:
            return
        current.attempts += 1
        delay = max(TRANSIENT_BACKOFF_SECONDS * current.attempts, exc.retry_after or 0)
        current.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        current.error_message = f"{exc.explanation} Trying again."
        released = claim.release_on(current)
        current.save(update_fields=["attempts", "next_attempt_at", "error_message", *released])
        _queue_advance(current)


# --- Polling ----------------------------------------------------------------------------------------------


def connection_advance(*, connection_id: int) -> None:
    """One step of a connection (the Celery task's body): start it, or poll Microsoft once."""
    claim = work_claim(connections_polled(), connection_id, lease=STEP_LEASE)
    if claim is None:
        return  # not due yet, finished, or another worker is taking this step
    connection = DeviceCodeConnection.objects.select_related("system", "tenant").get(pk=connection_id)
    if connection.status == ConnectionStatus.STARTING:
        _begin(connection, claim)
    else:
        DeviceCodeConnection.objects.filter(pk=connection_id).update(last_polled_at=claim.claimed_at)
        _poll(connection, claim)


def connections_polled() -> QuerySet[DeviceCodeConnection]:
    """The connections whose steps Celery still takes: the kind of background work the sweep looks after."""
    return DeviceCodeConnection.objects.filter(status__in=POLLED_CONNECTION_STATUSES)


def _poll(connection: DeviceCodeConnection, claim: Claim) -> None:
    system = connection.system
    try:
        result = identity.device_flow_poll(
            app=AppCredentials(system.client_id, None),
            tenant=system.directory_id,
            flow=json.loads(connection.flow),
        )
    except errors.TransientError as exc:
        _poll_retry_later(claim, exc)
        return
    except errors.MicrosoftError as exc:
        _fail(claim, exc)
        return
    _apply(claim, result)


def _poll_retry_later(claim: Claim, exc: errors.MicrosoftError) -> None:
    with transaction.atomic():
        current = _held(claim, ConnectionStatus.PENDING)
        if current is None:
            return
        delay = max(current.interval, TRANSIENT_BACKOFF_SECONDS, int(exc.retry_after or 0))
        current.next_attempt_at = _next_poll_at(current, delay)
        current.error_message = f"{exc.explanation} Trying again."
        released = claim.release_on(current)
        current.save(update_fields=["next_attempt_at", "error_message", *released])
        _queue_advance(current)


def _apply(claim: Claim, result: identity.DeviceFlowPoll) -> None:
    with transaction.atomic():
        current = _held(claim, ConnectionStatus.PENDING)
        if current is None:
            return  # cancelled (or replaced) while Microsoft answered: the answer is dropped
        state = result.state
        if state in (identity.DeviceFlowState.PENDING, identity.DeviceFlowState.SLOW_DOWN):
            current.flow = json.dumps(result.flow)
            # slow_down makes MSAL lengthen the flow's interval; every later poll keeps to it.
            current.interval = int(result.flow.get("interval", current.interval))
            current.next_attempt_at = _next_poll_at(current, current.interval)
            current.error_message = ""
            released = claim.release_on(current)
            current.save(update_fields=["flow", "interval", "next_attempt_at", "error_message", *released])
            _queue_advance(current)
        elif state == identity.DeviceFlowState.EXPIRED:
            _finish(current, ConnectionStatus.EXPIRED, EXPIRED_MESSAGE, action="external_system.connection_expired")
        elif state == identity.DeviceFlowState.DECLINED:
            _finish(current, ConnectionStatus.DECLINED, DECLINED_MESSAGE, action="external_system.connection_declined")
        else:
            assert result.grant is not None
            _approved(current, result.grant)


def _next_poll_at(connection: DeviceCodeConnection, seconds: int) -> datetime:
    """`seconds` from now, measured after Microsoft's answer, and never past the code's expiry."""
    at = timezone.now() + timedelta(seconds=seconds)
    if connection.expires_at is not None and at > connection.expires_at:
        return connection.expires_at  # the poll then reports the expiry without calling Microsoft
    return at


# --- Outcomes ---------------------------------------------------------------------------------------------


def _approved(connection: DeviceCodeConnection, grant: identity.TokenGrant) -> None:
    system = ExternalSystem.objects.get(pk=connection.system_id)
    mailbox = _signed_in_mailbox(grant)
    connection.signed_in_mailbox = mailbox
    connection.flow = ""
    if system.mailbox and mailbox.lower() != system.mailbox.lower():
        connection.status = ConnectionStatus.CONFIRM_SWITCH
        connection.held_grant = _grant_dump(grant)
        stopped = _stop_polling(connection)
        connection.save(update_fields=["status", "signed_in_mailbox", "flow", "held_grant", *stopped])
        audit_record(
            tenant=system.tenant,
            actor=None,
            action="external_system.other_mailbox_signed_in",
            target=system,
            details={"connected": system.mailbox, "signed_in": mailbox},
        )
        return
    try:
        _connect(system=system, connection=connection, grant=grant, actor=connection.requested_by)
    except CredentialMismatch:
        _finish(
            connection, ConnectionStatus.FAILED, WRONG_DIRECTORY_MESSAGE, action="external_system.connection_failed"
        )


def _connect(
    *, system: ExternalSystem, connection: DeviceCodeConnection, grant: identity.TokenGrant, actor: User | None
) -> None:
    kind = system_type(system.system_type)
    assert kind is not None
    credential_save(
        tenant=system.tenant,
        owner_type=OWNER_TYPE,
        owner_id=system.pk,
        kind=CredentialKind.DELEGATED_PUBLIC,
        directory_id=system.directory_id,
        client_id=system.client_id,
        scopes=list(kind.scopes),
        grant=grant,
        actor=actor,
    )
    previous = system.mailbox
    system.mailbox = connection.signed_in_mailbox
    system.status = SystemStatus.CONNECTED
    system.connected_at = timezone.now()
    system.save(update_fields=["mailbox", "status", "connected_at", "updated_at"])
    connection.status = ConnectionStatus.CONNECTED
    connection.held_grant = ""
    connection.error_code, connection.error_message = None, ""
    connection.finished_at = timezone.now()
    _stop_polling(connection)
    connection.save()
    details = {"mailbox": system.mailbox, "directory_id": system.directory_id}
    if previous and previous.lower() != system.mailbox.lower():
        details["previous_mailbox"] = previous
    audit_record(tenant=system.tenant, actor=actor, action="external_system.connected", target=system, details=details)


def _signed_in_mailbox(grant: identity.TokenGrant) -> str:
    if grant.account is not None and grant.account.username:
        return grant.account.username
    claims = grant.id_token_claims
    return str(claims.get("preferred_username") or claims.get("upn") or claims.get("email") or "")


def _fail(claim: Claim, exc: errors.MicrosoftError) -> None:
    with transaction.atomic():
        current = _locked(claim.pk)
        if current is None or not current.is_waiting or not claim.holds(current):
            return
        current.error_code = exc.code
        _finish(current, ConnectionStatus.FAILED, exc.explanation, action="external_system.connection_failed")
    logger.warning("External system connection %s failed: %r", claim.pk, exc)


def _finish(connection: DeviceCodeConnection, status: str, message: str, *, action: str) -> None:
    connection.status = status
    connection.error_message = message
    connection.flow = ""
    connection.finished_at = timezone.now()
    _stop_polling(connection)
    connection.save()
    details: dict[str, Any] = {"connection": connection.pk}
    if connection.error_code:
        details["code"] = connection.error_code
    audit_record(tenant=connection.tenant, actor=None, action=action, target=connection.system, details=details)


# --- The admin's decisions --------------------------------------------------------------------------------


@transaction.atomic
def connection_cancel(
    *, connection: DeviceCodeConnection, actor: User, ip_address: str | None = None
) -> DeviceCodeConnection:
    current = _locked(connection.pk)
    assert current is not None
    if not current.is_active:
        return current
    return _cancelled_by_admin(
        current,
        error_message="",
        actor=actor,
        action="external_system.connection_cancelled",
        details={"connection": current.pk},
        ip_address=ip_address,
    )


@transaction.atomic
def connection_switch_confirm(
    *, connection: DeviceCodeConnection, actor: User, ip_address: str | None = None
) -> DeviceCodeConnection:
    """The admin chose to use the mailbox that signed in instead of the connected one."""
    current = _locked(connection.pk)
    assert current is not None
    if current.status != ConnectionStatus.CONFIRM_SWITCH:
        return current
    system = current.system  # the instance the caller renders: it must show the new mailbox
    _connect(system=system, connection=current, grant=_grant_load(current.held_grant), actor=actor)
    audit_record(
        tenant=system.tenant,
        actor=actor,
        action="external_system.mailbox_switched",
        target=system,
        details={"mailbox": system.mailbox},
        ip_address=ip_address,
    )
    return current


@transaction.atomic
def connection_switch_reject(
    *, connection: DeviceCodeConnection, actor: User, ip_address: str | None = None
) -> DeviceCodeConnection:
    """The admin kept the connected mailbox: the other mailbox's sign-in is thrown away."""
    current = _locked(connection.pk)
    assert current is not None
    if current.status != ConnectionStatus.CONFIRM_SWITCH:
        return current
    return _cancelled_by_admin(
        current,
        error_message=(
            f"The sign-in of {current.signed_in_mailbox} was discarded; {current.system.mailbox} stays connected."
        ),
        actor=actor,
        action="external_system.mailbox_switch_rejected",
        details={"kept": current.system.mailbox, "discarded": current.signed_in_mailbox},
        ip_address=ip_address,
    )


def _cancelled_by_admin(
    current: DeviceCodeConnection,
    *,
    error_message: str,
    actor: User,
    action: str,
    details: dict[str, Any],
    ip_address: str | None,
) -> DeviceCodeConnection:
    """The admin ended the connection (a locked row): nothing is polled or held any more, and the trail says who."""
    current.status = ConnectionStatus.CANCELLED
    current.error_message = error_message
    current.flow = ""
    current.held_grant = ""
    current.next_attempt_at = None
    current.finished_at = timezone.now()
    current.save()
    audit_record(
        tenant=current.tenant,
        actor=actor,
        action=action,
        target=current.system,
        details=details,
        ip_address=ip_address,
    )
    return current


def connection_code_email(
    *, connection: DeviceCodeConnection, actor: User, recipient: str, ip_address: str | None = None
) -> None:
    """Send the code and the URL to the mailbox owner, who signs in themselves.

    The email goes into the outgoing mail queue in this transaction (an outbox: it is delivered even if the
    broker is away now). Nothing is sent before Microsoft gave a code. Raises `Throttled`, sending nothing,
    past the code email limits (per recipient, tenant and client).
    """
    limits = scope_limits("device_code_email", address=recipient, tenant=connection.tenant.name, client=ip_address)
    with transaction.atomic():
        current = _locked(connection.pk)
        if current is None or current.status != ConnectionStatus.PENDING:
            return
        throttle_take(limits=limits)
        current.code_emailed_to = recipient
        current.save(update_fields=["code_emailed_to"])
        _code_email_queue(current, recipient)
        audit_record(
            tenant=current.tenant,
            actor=actor,
            action="external_system.code_emailed",
            target=current.system,
            details={"connection": current.pk, "recipient": recipient},
            ip_address=ip_address,
        )


def _code_email_queue(connection: DeviceCodeConnection, recipient: str) -> None:
    context = {"connection": connection, "system": connection.system, "tenant": connection.tenant}
    tenant_mail_send(
        tenant=connection.tenant,
        subject=f"Sign in to connect {connection.system.title} to Roger",
        body=render_to_string("external_systems/email/connection_code.txt", context),
        to=[recipient],
    )


# --- Helpers ----------------------------------------------------------------------------------------------


def _locked(connection_id: int) -> DeviceCodeConnection | None:
    return (
        DeviceCodeConnection.objects.select_for_update(of=("self",))
        .select_related("system", "tenant")
        .filter(pk=connection_id)
        .first()
    )


def _held(claim: Claim, status: str) -> DeviceCodeConnection | None:
    """The row again, locked, if it is still in `status` and held by `claim` (not cancelled or taken over)."""
    current = _locked(claim.pk)
    if current is None or current.status != status or not claim.holds(current):
        return None
    return current


def _stop_polling(connection: DeviceCodeConnection) -> list[str]:
    """No further step: nothing is due and nobody holds the row. Returns the fields to save."""
    connection.next_attempt_at = None
    connection.lease_until = None
    connection.lease_token = ""
    return ["next_attempt_at", "lease_until", "lease_token"]


def _queue_advance(connection: DeviceCodeConnection) -> None:
    from external_systems.tasks import connection_advance_task  # the tasks module imports this one

    work_queue(connection_advance_task, connection.pk, eta=connection.next_attempt_at or timezone.now())


def _grant_dump(grant: identity.TokenGrant) -> str:
    data = asdict(grant)
    data["expires_at"] = grant.expires_at.isoformat()
    return json.dumps(data)


def _grant_load(text: str) -> identity.TokenGrant:
    data = json.loads(text)
    account = identity.AccountInfo(**data["account"]) if data.get("account") else None
    return identity.TokenGrant(
        access_token=data["access_token"],
        expires_at=datetime.fromisoformat(data["expires_at"]),
        scopes=tuple(data["scopes"]),
        token_cache=data["token_cache"],
        account=account,
        refresh_token_rotated=bool(data["refresh_token_rotated"]),
        id_token_claims=dict(data.get("id_token_claims") or {}),
    )
