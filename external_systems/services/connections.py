"""The device code connection of an external system, driven by Celery one short step at a time.

A connection starts as STARTING (a step resolves the tenant and asks Microsoft for a code), becomes PENDING (one
poll a step, due when Microsoft allows the next poll) and ends CONNECTED, EXPIRED, DECLINED, FAILED or CANCELLED.
Each step is background work (background.claims). A task takes a round of steps: it claims every connection whose
step is due (up to STEP_BATCH, in one UPDATE), makes their calls to Microsoft side by side (background.rounds:
STEP_POOL.threads at once, no lock held), and writes each outcome only while its claim holds and the connection
was not cancelled meanwhile. A poll is one small request that waits on Microsoft far longer than it costs the
worker, so one task, claim and read for many polls, with their waits overlapping, is what lets a worker keep up
with hundreds of pending codes. While a call is in flight the row is held, so neither the sweep nor another round
can start a second poll, which would redeem the approved code and make the first poll's answer be dropped. Pages
only read the row.
"""

from __future__ import annotations

import contextvars
import json
import logging
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.mail import tenant_mail_send
from audit.services import audit_record
from background.claims import Claim, work_claim_due, work_release, work_renew
from background.kinds import work_queue
from background.rounds import Pool, side_by_side
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
from operations.context import RequestContext, context_enter, correlation_id_new, current_context
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
# A round renews the leases of the steps still in flight this often, well within STEP_LEASE.
STEP_RENEW_SECONDS = 30.0
# A step due this long without being claimed lost its task (worker or broker gone): the sweep queues it.
SWEEP_GRACE = timedelta(seconds=30)
# A round claims up to STEP_BATCH due steps and has STEP_POOL.threads of their calls in flight at once.
STEP_BATCH = 50
STEP_POOL = Pool("connection-step", threads=8)
# The next round is queued for the end of the quarter second in which a step falls due, so the steps due in the
# same quarter second share one task; a task runs at or after its time, so no step is taken early.
STEP_SLOT_SECONDS = 0.25

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


def connection_start(*, system: ExternalSystem, actor: User) -> DeviceCodeConnection:
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
                actor=actor,
                action="external_system.connection_started",
                target=system,
                details={"connection": connection.pk, "reconnect": system.is_connected},
            )
            _queue_advance(connection)
    except IntegrityError:  # another request opened one at the same moment: show that one
        return system.connections.get(status__in=ACTIVE_CONNECTION_STATUSES)
    return connection


@dataclass(frozen=True)
class _Started:
    directory_id: str
    started: identity.DeviceFlowStarted


def _begin_call(connection: DeviceCodeConnection) -> _Started:
    """Resolve the directory and ask Microsoft for a device code (in a round's thread: no database, no lock)."""
    system = connection.system
    kind = system_type(system.system_type)
    assert kind is not None
    directory_id = system.directory_id or identity.tenant_resolve(system.directory_input)
    started = identity.device_flow_start(
        app=AppCredentials(system.client_id, None), tenant=directory_id, scopes=kind.scopes
    )
    return _Started(directory_id, started)


def _begun(connection: DeviceCodeConnection, claim: Claim, outcome: _Started) -> datetime | None:
    system = connection.system
    started = outcome.started
    with transaction.atomic():
        current = _held(claim, ConnectionStatus.STARTING)
        if current is None:
            return None  # cancelled, or replaced, while Microsoft answered
        if not system.directory_id:
            ExternalSystem.objects.filter(pk=system.pk).update(directory_id=outcome.directory_id)
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
    logger.info("Device code issued for external system %s (connection %s)", system.pk, connection.pk)
    return current.next_attempt_at


def _start_retry_later(connection: DeviceCodeConnection, claim: Claim, exc: errors.MicrosoftError) -> datetime | None:
    if connection.attempts + 1 >= START_ATTEMPTS:
        _fail(claim, exc)
        return None
    with transaction.atomic():
        current = _held(claim, ConnectionStatus.STARTING)
        if current is None:
            return None
        current.attempts += 1
        delay = max(TRANSIENT_BACKOFF_SECONDS * current.attempts, exc.retry_after or 0)
        current.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        current.error_message = f"{exc.explanation} Trying again."
        released = claim.release_on(current)
        current.save(update_fields=["attempts", "next_attempt_at", "error_message", *released])
    return current.next_attempt_at


# --- Polling ----------------------------------------------------------------------------------------------


def connection_advance(*, connection_id: int | None = None) -> None:
    """A round of steps (the Celery task's body): claim the connections whose step is due (the task's own among
    them if it still is), start or poll each, write each outcome, and queue the rounds for the next steps.

    `connection_id` is the connection the task was queued for: its step runs in the task's flow (the page's
    correlation id, actor and address); the steps of other connections claimed with it run in a flow of their
    own in their tenant.
    """
    claims = work_claim_due(connections_polled(), limit=STEP_BATCH, lease=STEP_LEASE)
    if not claims:
        return  # nothing due: a duplicate task, or another round took the steps
    loaded = DeviceCodeConnection.objects.select_related("system", "tenant").in_bulk([claim.pk for claim in claims])
    steps = [
        _Step(claim, loaded[claim.pk], _step_context(loaded[claim.pk], connection_id))
        for claim in claims
        if claim.pk in loaded
    ]
    next_rounds: dict[datetime, _Step] = {}
    waiting: list[tuple[_Step, _Waiting]] = []
    for step, outcome in _side_by_side(steps):
        try:
            settled = step.context.run(_settle, step, outcome)
        except Exception:  # one connection's failure must not drop the outcomes of the others
            logger.exception("External system connection %s: the step's outcome could not be written", step.claim.pk)
            continue
        if isinstance(settled, _Waiting):
            waiting.append((step, settled))
        elif settled is not None:
            next_rounds.setdefault(_slot(settled), step)
    for step, due_at in _waiting_release(waiting):
        next_rounds.setdefault(_slot(due_at), step)
    if len(claims) == STEP_BATCH:
        next_rounds.setdefault(timezone.now(), steps[-1])  # more may be due: another round at once
    for at, step in next_rounds.items():
        step.context.run(work_queue, _advance_task(), step.claim.pk, eta=at)


def connections_polled() -> QuerySet[DeviceCodeConnection]:
    """The connections whose steps Celery still takes: the kind of background work the sweep looks after."""
    return DeviceCodeConnection.objects.filter(status__in=POLLED_CONNECTION_STATUSES)


@dataclass(frozen=True)
class _Waiting:
    """A code still waiting for its sign-in (the usual answer): what changed and when the next poll is due."""

    claim: Claim
    changed: dict[str, Any]
    due_at: datetime


def _waiting_release(waiting: list[tuple[_Step, _Waiting]]) -> list[tuple[_Step, datetime]]:
    """Write the round's usual answers in one transaction: one commit (a flush of the database's log to disk)
    for them all, not one each. Each is one conditional UPDATE of what changed, written only while its claim
    holds and the connection still waits (a cancel meanwhile drops the answer). Returns those written."""
    rows = connections_polled().filter(status=ConnectionStatus.PENDING)
    with transaction.atomic():
        return [(step, w.due_at) for step, w in waiting if work_release(rows, w.claim, **w.changed)]


@dataclass(frozen=True)
class _Step:
    claim: Claim
    connection: DeviceCodeConnection
    context: contextvars.Context


def _step_context(connection: DeviceCodeConnection, own: int | None) -> contextvars.Context:
    """The context (operations.context) a connection's step runs in: its logs and its audit rows name it."""
    context = contextvars.copy_context()
    if connection.pk != own and current_context() is not None:
        # Never another connection's flow: its page's actor and address, maybe of another tenant.
        context.run(context_enter, RequestContext(correlation_id=correlation_id_new(), tenant_id=connection.tenant_id))
    return context


def _call(step: _Step) -> object:
    """The step's call to Microsoft (in a round's thread: no database, no lock); an error is handed to _settle,
    which knows what each one means."""
    connection = step.connection
    if connection.status == ConnectionStatus.STARTING:
        return _begin_call(connection)
    return identity.device_flow_poll(
        app=AppCredentials(connection.system.client_id, None),
        tenant=connection.system.directory_id,
        flow=json.loads(connection.flow),
    )


def _settle(step: _Step, outcome: object) -> datetime | _Waiting | None:
    """Write a step's outcome while its claim holds and return when the connection's next step is due; a code
    still waiting for its sign-in is returned to be written with the round's others."""
    claim, connection = step.claim, step.connection
    if isinstance(outcome, errors.TransientError):
        if connection.status == ConnectionStatus.STARTING:
            return _start_retry_later(connection, claim, outcome)
        return _poll_retry_later(claim, outcome)
    if isinstance(outcome, errors.MicrosoftError):
        _fail(claim, outcome)
        return None
    if isinstance(outcome, Exception):
        raise outcome  # a bug: the row stays held until its lease runs out, then the sweep queues it again
    if isinstance(outcome, _Started):
        return _begun(connection, claim, outcome)
    assert isinstance(outcome, identity.DeviceFlowPoll)
    return _apply(connection, claim, outcome)


def _side_by_side(steps: list[_Step]) -> Iterator[tuple[_Step, object]]:
    """Make the steps' calls, up to STEP_POOL.threads at once, and hand back each outcome (its result or its error)
    as soon as its call is over, so that it is written while the other calls are still in flight."""
    for finished in side_by_side(
        STEP_POOL,
        steps,
        _call,
        context=lambda step: step.context,
        renew=lambda _waiting: _renew(steps),
        renew_every=STEP_RENEW_SECONDS,
    ):
        yield finished.item, finished.error if finished.error is not None else finished.result


def _renew(steps: list[_Step]) -> None:
    # Every step of the round, not only those not started: a code whose answer waits to be written with the others
    # is still due by its old time, and must not be polled again meanwhile (no lock is held during a call).
    for step in steps:
        work_renew(connections_polled(), step.claim, lease=STEP_LEASE)


def _poll_retry_later(claim: Claim, exc: errors.MicrosoftError) -> datetime | None:
    with transaction.atomic():
        current = _held(claim, ConnectionStatus.PENDING)
        if current is None:
            return None
        delay = max(current.interval, TRANSIENT_BACKOFF_SECONDS, int(exc.retry_after or 0))
        current.next_attempt_at = _next_poll_at(current, delay)
        current.last_polled_at = claim.claimed_at
        current.error_message = f"{exc.explanation} Trying again."
        released = claim.release_on(current)
        current.save(update_fields=["next_attempt_at", "last_polled_at", "error_message", *released])
    return current.next_attempt_at


def _apply(connection: DeviceCodeConnection, claim: Claim, result: identity.DeviceFlowPoll) -> _Waiting | None:
    state = result.state
    if state in (identity.DeviceFlowState.PENDING, identity.DeviceFlowState.SLOW_DOWN):
        interval = int(result.flow.get("interval", connection.interval))
        next_attempt_at = _next_poll_at(connection, interval)
        changed: dict[str, Any] = {"next_attempt_at": next_attempt_at, "last_polled_at": claim.claimed_at}
        if interval != connection.interval:
            # slow_down made MSAL lengthen the flow's interval; every later poll keeps to it. (Otherwise the flow
            # changed only by MSAL's note of the attempt's time, which nothing reads: the scheduler paces.)
            changed.update(interval=interval, flow=json.dumps(result.flow))
        if connection.error_message:
            changed["error_message"] = ""
        return _Waiting(claim, changed, next_attempt_at)
    with transaction.atomic():
        current = _held(claim, ConnectionStatus.PENDING)
        if current is None:
            return None  # cancelled (or replaced) while Microsoft answered: the answer is dropped
        current.last_polled_at = claim.claimed_at
        if state == identity.DeviceFlowState.EXPIRED:
            _finish(current, ConnectionStatus.EXPIRED, EXPIRED_MESSAGE, action="external_system.connection_expired")
        elif state == identity.DeviceFlowState.DECLINED:
            _finish(current, ConnectionStatus.DECLINED, DECLINED_MESSAGE, action="external_system.connection_declined")
        else:
            assert result.grant is not None
            _approved(current, result.grant)
    return None


def _slot(at: datetime) -> datetime:
    """The end of the STEP_SLOT_SECONDS in which `at` falls: when the round for the steps due then is queued."""
    return datetime.fromtimestamp(math.ceil(at.timestamp() / STEP_SLOT_SECONDS) * STEP_SLOT_SECONDS, UTC)


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
    audit_record(actor=actor, action="external_system.connected", target=system, details=details)


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
def connection_cancel(*, connection: DeviceCodeConnection) -> DeviceCodeConnection:
    """The admin stopped the connection (the trail names them from the request context)."""
    current = _locked(connection.pk)
    assert current is not None
    if not current.is_active:
        return current
    return _cancelled_by_admin(
        current,
        error_message="",
        action="external_system.connection_cancelled",
        details={"connection": current.pk},
    )


@transaction.atomic
def connection_switch_confirm(*, connection: DeviceCodeConnection, actor: User) -> DeviceCodeConnection:
    """The admin chose to use the mailbox that signed in instead of the connected one."""
    current = _locked(connection.pk)
    assert current is not None
    if current.status != ConnectionStatus.CONFIRM_SWITCH:
        return current
    system = current.system  # the instance the caller renders: it must show the new mailbox
    _connect(system=system, connection=current, grant=_grant_load(current.held_grant), actor=actor)
    audit_record(
        actor=actor,
        action="external_system.mailbox_switched",
        target=system,
        details={"mailbox": system.mailbox},
    )
    return current


@transaction.atomic
def connection_switch_reject(*, connection: DeviceCodeConnection) -> DeviceCodeConnection:
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
        action="external_system.mailbox_switch_rejected",
        details={"kept": current.system.mailbox, "discarded": current.signed_in_mailbox},
    )


def _cancelled_by_admin(
    current: DeviceCodeConnection,
    *,
    error_message: str,
    action: str,
    details: dict[str, Any],
) -> DeviceCodeConnection:
    """The admin ended the connection (a locked row): nothing is polled or held any more, and the trail says who."""
    current.status = ConnectionStatus.CANCELLED
    current.error_message = error_message
    current.flow = ""
    current.held_grant = ""
    current.next_attempt_at = None
    current.finished_at = timezone.now()
    current.save()
    audit_record(tenant=current.tenant, action=action, target=current.system, details=details)
    return current


def connection_code_email(*, connection: DeviceCodeConnection, recipient: str, client: str | None = None) -> None:
    """Send the code and the URL to the mailbox owner, who signs in themselves.

    The email goes into the outgoing mail queue in this transaction (an outbox: it is delivered even if the
    broker is away now). Nothing is sent before Microsoft gave a code. Raises `Throttled`, sending nothing,
    past the code email limits (per recipient, tenant and `client`, the address the caller counts: given explicitly,
    so that no limit depends on a request context being there).
    """
    limits = scope_limits("device_code_email", address=recipient, tenant=connection.tenant.name, client=client)
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
            action="external_system.code_emailed",
            target=current.system,
            details={"connection": current.pk, "recipient": recipient},
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
    work_queue(_advance_task(), connection.pk)


def _advance_task() -> Any:
    from external_systems.tasks import connection_advance_task  # the tasks module imports this one

    return connection_advance_task


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
