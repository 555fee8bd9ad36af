"""Writes of the token store: save a credential, hand out its access token, refresh it, delete it.

One refresh per credential at a time: every call to Microsoft that may rotate a token runs under a row
lock (`select_for_update`), and the rotated cache is saved in the same transaction as the new state.
A waiting second refresh re-reads the row and makes no call when the first one already did the work.

In the background a credential is a kind of work (background.kinds): `next_attempt_at` says when its
refresh is due, and the refresh task claims the row first, so that the sweep does not queue a second
refresh while one is running; one that died with its worker is taken up again when its lease runs out.
A task takes a round of due refreshes (`credential_refresh_round`): it claims up to REFRESH_BATCH of them at
once and runs each one's locked refresh on a thread of its own (background.rounds: REFRESH_POOL.threads at once, a
database connection each, closed after the round), so that their waits on Microsoft overlap; each refresh is still
the one above, under its row lock.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from audit.services import FROM_CONTEXT, audit_record
from background.claims import Claim, retry_delay, work_claim, work_claim_due, work_release, work_renew
from background.kinds import work_queue
from background.rounds import Pool, side_by_side
from credentials import selectors
from credentials.choices import CredentialKind, CredentialState
from credentials.errors import CredentialMismatch, CredentialMissing, CredentialUnavailable
from credentials.models import MicrosoftCredential
from credentials.registry import owner_type_get
from credentials.signals import credential_healthy, credential_needs_person
from microsoft import errors as microsoft_errors
from microsoft.identity import (
    AppCredentials,
    TokenGrant,
    cached_access_token,
    client_credentials_acquire,
    scopes_equivalent,
    token_acquire_silent,
)
from operations.context import RequestContext, context_enter, correlation_id_new, current_context

if TYPE_CHECKING:
    from accounts.models import Tenant, User

__all__ = [
    "credential_access_token",
    "credential_delete",
    "credential_refresh",
    "credential_refresh_due",
    "credential_refresh_request",
    "credential_refresh_round",
    "credential_refused",
    "credential_save",
]

logger = logging.getLogger(__name__)

# MSAL treats an access token with less than 5 minutes left as expired; we refresh at the same point.
REFRESH_MARGIN = timedelta(minutes=5)
# Microsoft expires a refresh token after 90 days without use; exercising it weekly keeps it alive.
IDLE_REFRESH_AFTER = timedelta(days=7)
# A background refresh holds its credential this long: one or two calls of at most MICROSOFT_HTTP_TIMEOUT.
REFRESH_LEASE = timedelta(minutes=2)
# A round claims up to REFRESH_BATCH due refreshes and has REFRESH_POOL.threads of them in flight at once; it renews the
# leases of the refreshes still waiting for a thread this often, well within REFRESH_LEASE.
REFRESH_BATCH = 50
REFRESH_POOL = Pool("refresh", threads=8)
REFRESH_RENEW_SECONDS = 30.0
# A refresh due this long without being claimed lost its task (worker or broker gone): the sweep queues it.
SWEEP_GRACE = timedelta(minutes=2)
RETRY_BACKOFF_FIRST = timedelta(seconds=30)
RETRY_BACKOFF_MAX = timedelta(hours=1)
# Admins hear about a passing failure only when it stops passing.
RETRYING_NOTIFY_AFTER = timedelta(hours=24)

# AADSTS codes whose fix is granting consent again (not signing in again).
CONSENT_CODES = frozenset({65001, 65004, 70000, 90094})


@dataclass(frozen=True)
class _Outcome:
    credential: MicrosoftCredential
    access_token: str | None = None
    error: Exception | None = None
    saved: bool = False  # the credential was saved (with everything set on it before, a released claim too)


# --- save and delete -------------------------------------------------------------------------------------


def credential_save(
    *,
    tenant: Tenant,
    owner_type: str,
    owner_id: int,
    user: User | None = None,
    kind: CredentialKind | str,
    directory_id: str,
    client_id: str,
    scopes: Sequence[str],
    grant: TokenGrant,
    actor: User | None = None,
) -> MicrosoftCredential:
    """Store a fresh grant for its owner (create, or replace on reconnect); the credential is ACTIVE."""
    owner_type_get(owner_type)  # an unknown owner could never be refreshed: refuse it now
    kind = CredentialKind(kind)
    directory_id = _normalized(directory_id)
    _check_user_tenant(tenant, user)
    if kind != CredentialKind.APP_ONLY:
        _check_grant_directory(grant, directory_id)
    now = timezone.now()
    with transaction.atomic():
        existing = (
            MicrosoftCredential.objects.select_for_update()
            .filter(owner_type=owner_type, owner_id=owner_id, user=user)
            .first()
        )
        if existing is not None and existing.tenant_id != tenant.pk:
            raise CredentialMismatch(f"The {owner_type} #{owner_id} credential belongs to another Roger tenant.")
        credential = existing or MicrosoftCredential(tenant=tenant, owner_type=owner_type, owner_id=owner_id, user=user)
        previous_state = existing.state if existing is not None else None
        credential.kind = kind
        credential.directory_id = directory_id
        credential.client_id = client_id.lower()
        credential.scopes = list(scopes)
        credential.account_home_id = grant.account.home_account_id if grant.account else ""
        credential.account_username = grant.account.username if grant.account else ""
        credential.refresh_token_used_at = now if kind != CredentialKind.APP_ONLY else None
        credential.connected_at = now  # a reconnect is a new connection, maybe of another account
        _apply_grant(credential, grant, now=now, for_own_scopes=True)
        credential.save()
        audit_record(
            tenant=tenant,
            actor=actor,
            action="credential.reconnected" if existing is not None else "credential.connected",
            target=credential,
            details={
                **_audit_details(credential),
                "from": previous_state,
                "to": credential.state,
                "account": credential.account_username,
                "granted_scopes": credential.granted_scopes,
            },
        )
        _notifications_clear(credential)
    logger.info("Credential %s saved for %s #%s", credential.pk, owner_type, owner_id)
    return credential


def credential_delete(
    *, tenant: Tenant, owner_type: str, owner_id: int, user: User | None = None, actor: User | None = FROM_CONTEXT
) -> int:
    """Forget the owner's credentials: all of them (its own and its users'), or only `user`'s. The trail's actor is
    the request context's unless another one (None: the system) is given."""
    credentials = MicrosoftCredential.objects.filter(tenant=tenant, owner_type=owner_type, owner_id=owner_id)
    if user is not None:
        credentials = credentials.filter(user=user)
    deleted = 0
    with transaction.atomic():
        for credential in credentials.select_for_update():
            audit_record(
                tenant=tenant,
                actor=actor,
                action="credential.deleted",
                target=credential,
                details=_audit_details(credential),
            )
            _notifications_clear(credential)
            credential.delete()
            deleted += 1
    return deleted


# --- hand out an access token -----------------------------------------------------------------------------


def credential_access_token(
    *,
    tenant: Tenant,
    owner_type: str,
    owner_id: int,
    directory_id: str,
    user: User | None = None,
    scopes: Sequence[str] | None = None,
    force_refresh: bool = False,
) -> str:
    """The owner's access token for use now: from the stored cache, refreshed first when about to expire.

    `force_refresh` gets a new token although the stored one looks valid: for when the resource server (Exchange,
    Graph) refused it, as it may after a revocation or with clock skew.

    Raises CredentialMismatch (not this tenant's, owner's or directory's), CredentialUnavailable (a person
    must consent or reconnect; CredentialMissing when nothing is connected) or microsoft.errors.TransientError
    (Microsoft unreachable: the credential is marked retrying and kept).
    """
    credential = _owned_credential(
        tenant=tenant, owner_type=owner_type, owner_id=owner_id, user=user, directory_id=directory_id
    )
    wanted = list(scopes or credential.scopes)
    if credential.state in CredentialState.terminal():
        raise _unavailable(credential)
    token = None if force_refresh else _cached_access_token(credential, wanted, margin=REFRESH_MARGIN)
    if token is not None:
        return token
    outcome = _refresh(credential.pk, scopes=wanted, force=force_refresh)
    if outcome.access_token is not None:
        return outcome.access_token
    raise outcome.error or _waiting(outcome.credential)


# --- refresh -----------------------------------------------------------------------------------------------


def credential_refresh(
    *, credential_id: int, force: bool = True, requested_at: datetime | None = None
) -> MicrosoftCredential:
    """Refresh now (a probe, or any caller that needs it done before going on); the state says how it went.

    `force` refreshes even a valid access token (exercising the refresh token). A refresh that finished
    after `requested_at` (default: now) satisfies this request, so concurrent requests make one call.
    A credential that needs a person, or waits for its retry time, is left alone.
    """
    outcome = _refresh(credential_id, scopes=None, force=force, requested_at=requested_at or timezone.now())
    return outcome.credential


def credential_refresh_due(*, credential_id: int) -> MicrosoftCredential | None:
    """The background refresh (its task): claim the credential if its refresh is due, refresh it, release it.

    None when there was nothing to do: not due (done meanwhile, or a duplicate task) or being refreshed.
    """
    claim = work_claim(MicrosoftCredential.objects.all(), credential_id, lease=REFRESH_LEASE)
    if claim is None:
        return None
    return _refresh(credential_id, scopes=None, force=True, requested_at=claim.claimed_at, claim=claim).credential


def credential_refresh_round(*, credential_id: int | None = None) -> list[MicrosoftCredential]:
    """A round of background refreshes (the task's body): claim the credentials whose refresh is due (up to
    REFRESH_BATCH, the task's own among them if it still is), refresh each under its row lock, several at once,
    and release each with its outcome. Returns the credentials refreshed (or left retrying, or waiting for a
    person); none when nothing was due (done meanwhile, a duplicate task, or another round took them).

    `credential_id` is the credential the task was queued for: its refresh runs in the task's flow (say, the page's
    that asked for it); the others claimed with it run in a flow of their own, never another page's actor or address.
    """
    rows = MicrosoftCredential.objects.all()
    claims = work_claim_due(rows, limit=REFRESH_BATCH, lease=REFRESH_LEASE)
    if not claims:
        return []
    refreshed = _side_by_side({claim: _refresh_context(claim.pk, credential_id) for claim in claims})
    if len(claims) == REFRESH_BATCH:
        _queue_refresh(claims[-1].pk)  # more may be due: another round at once
    return refreshed


def _refresh_context(pk: int, own: int | None) -> contextvars.Context:
    """The context (operations.context) a claimed refresh runs in: its logs and audit rows name it."""
    context = contextvars.copy_context()
    if pk != own and current_context() is not None:
        context.run(context_enter, RequestContext(correlation_id=correlation_id_new()))
    return context


def _refresh_claimed(claim: Claim) -> MicrosoftCredential | None:
    try:
        return _refresh(claim.pk, scopes=None, force=True, requested_at=claim.claimed_at, claim=claim).credential
    except MicrosoftCredential.DoesNotExist:
        logger.info("Credential %s was deleted before its refresh ran", claim.pk)
        return None


def _side_by_side(claimed: dict[Claim, contextvars.Context]) -> list[MicrosoftCredential]:
    """Run the claimed refreshes, up to REFRESH_POOL.threads at once; one's failure does not drop the others."""
    refreshed: list[MicrosoftCredential] = []
    for finished in side_by_side(
        REFRESH_POOL,
        list(claimed),
        _refresh_claimed,
        context=claimed.__getitem__,
        renew=_renew_waiting,
        renew_every=REFRESH_RENEW_SECONDS,
    ):
        if finished.error is not None:  # a bug: the row stays held until its lease runs out, then the sweep queues it
            logger.error("Credential %s: the refresh failed", finished.item.pk, exc_info=finished.error)
        elif finished.result is not None:
            refreshed.append(finished.result)
    return refreshed


def _renew_waiting(waiting: list[Claim]) -> None:
    """Renew the leases of the refreshes still waiting for a thread (a running one holds its row lock, which a
    renewal would wait for, and no other round can claim a locked row)."""
    for claim in waiting:
        work_renew(MicrosoftCredential.objects.all(), claim, lease=REFRESH_LEASE)


def credential_refresh_request(*, credential: MicrosoftCredential, actor: User | None = None) -> None:
    """Ask for a refresh in the background, even of a credential waiting for a person (after a fix)."""
    with transaction.atomic():
        locked = MicrosoftCredential.objects.select_for_update().select_related("tenant").get(pk=credential.pk)
        previous_state = locked.state
        locked.state = CredentialState.REFRESHING
        locked.next_attempt_at = timezone.now()
        locked.save(update_fields=["state", "next_attempt_at", "updated_at"])
        audit_record(
            actor=actor,
            action="credential.refresh_requested",
            target=locked,
            details={**_audit_details(locked), "from": previous_state, "to": locked.state},
        )
        _queue_refresh(locked.pk)


def credential_refused(*, credential_id: int, error: microsoft_errors.MicrosoftError) -> MicrosoftCredential:
    """The resource refused the token for good (Graph's 403 on a user's own files: the permission was withdrawn):
    a person must reconnect. The credential stops handing out tokens, like after a failed refresh."""
    with transaction.atomic():
        credential = MicrosoftCredential.objects.select_for_update().select_related("tenant").get(pk=credential_id)
        if credential.state not in CredentialState.terminal():
            _mark_needs_person(credential, error)
    return credential


def _refresh(
    credential_id: int,
    *,
    scopes: Sequence[str] | None,
    force: bool,
    requested_at: datetime | None = None,
    claim: Claim | None = None,
) -> _Outcome:
    with transaction.atomic():
        credential = MicrosoftCredential.objects.select_for_update().select_related("tenant").get(pk=credential_id)
        # A claimed refresh lets go of the row in the same UPDATE that saves its outcome (one query less).
        releasing = claim is not None and claim.holds(credential)
        if releasing:
            assert claim is not None
            claim.release_on(credential)
        outcome = _refresh_locked(
            credential, list(scopes or credential.scopes), force, requested_at, claimed=claim is not None
        )
        if claim is not None and not (releasing and outcome.saved):
            work_release(MicrosoftCredential.objects.all(), claim)
        return outcome


def _refresh_locked(
    credential: MicrosoftCredential, wanted: list[str], force: bool, requested_at: datetime | None, *, claimed: bool
) -> _Outcome:
    if _already_refreshed(credential, requested_at):
        # Another refresh finished while this one waited for the lock: it did the work.
        return _Outcome(credential, _cached_access_token(credential, wanted, margin=REFRESH_MARGIN))
    if credential.state in CredentialState.terminal():
        return _Outcome(credential, error=_unavailable(credential))
    if not force and credential.state == CredentialState.ACTIVE:
        token = _cached_access_token(credential, wanted, margin=REFRESH_MARGIN)
        if token is not None:
            return _Outcome(credential, token)
    if not claimed and _backing_off(credential):  # a claim is only granted once the retry is due
        # Retry-After or our backoff: no call, but a still-valid token may be used.
        still_valid = _cached_access_token(credential, wanted, margin=timedelta())
        return _Outcome(credential, still_valid, _waiting(credential))
    return _call_microsoft(credential, wanted)


def _backing_off(credential: MicrosoftCredential) -> bool:
    retry_at = credential.next_attempt_at
    return credential.state == CredentialState.RETRYING and retry_at is not None and retry_at > timezone.now()


def _already_refreshed(credential: MicrosoftCredential, requested_at: datetime | None) -> bool:
    return (
        requested_at is not None
        and credential.state == CredentialState.ACTIVE
        and credential.refreshed_at is not None
        and credential.refreshed_at >= requested_at
    )


def _call_microsoft(credential: MicrosoftCredential, scopes: list[str]) -> _Outcome:
    """Runs inside the row lock: one call to Microsoft, then the new state saved with the new cache."""
    try:
        grant = _acquire(credential, scopes)
    except microsoft_errors.MicrosoftError as exc:
        if exc.needs_person:
            _mark_needs_person(credential, exc)
            return _Outcome(credential, error=_unavailable(credential), saved=True)
        _mark_retrying(credential, exc)
        # A passing failure does not stop work while the old access token is still valid.
        still_valid = _cached_access_token(credential, scopes, margin=timedelta())
        return _Outcome(credential, still_valid, _waiting(credential, exc), saved=True)
    _mark_active(credential, grant, for_own_scopes=scopes_equivalent(scopes, credential.scopes))
    return _Outcome(credential, grant.access_token, saved=True)


def _acquire(credential: MicrosoftCredential, scopes: list[str]) -> TokenGrant:
    app = owner_type_get(credential.owner_type).app_for(credential)
    if app.client_id.lower() != credential.client_id.lower():
        raise microsoft_errors.ConfigurationError(
            "The app behind this connection changed since it was signed in, and a sign-in belongs to one app. "
            "Use Reconnect and sign in again.",
            error="app_changed",
        )
    if credential.kind == CredentialKind.APP_ONLY:
        # No refresh token: app-only tokens are simply acquired again with the app's secret.
        return client_credentials_acquire(app=app, tenant=credential.directory_id, scope=scopes[0])
    if credential.kind == CredentialKind.DELEGATED_PUBLIC:
        # A public client must never send a secret: Microsoft refuses it with AADSTS700025.
        app = AppCredentials(client_id=app.client_id, client_secret=None)
    return token_acquire_silent(
        app=app,
        tenant=credential.directory_id,
        token_cache=credential.token_cache,
        home_account_id=credential.account_home_id,
        scopes=scopes,
        force_refresh=True,
    )


# --- state transitions (always inside the row lock's transaction) ------------------------------------------


def _apply_grant(credential: MicrosoftCredential, grant: TokenGrant, *, now: datetime, for_own_scopes: bool) -> None:
    credential.token_cache = grant.token_cache
    credential.access_token_expires_at = grant.expires_at
    credential.refreshed_at = now
    if for_own_scopes and grant.scopes:
        credential.granted_scopes = list(grant.scopes)
    credential.state = CredentialState.ACTIVE
    credential.state_reason = ""
    credential.last_error_code = None
    credential.retrying_since = None
    # A delegated refresh token is exercised weekly, so that Microsoft's 90-day inactivity limit never bites.
    credential.next_attempt_at = now + IDLE_REFRESH_AFTER if credential.is_delegated else None
    credential.attempts = 0


def _mark_active(credential: MicrosoftCredential, grant: TokenGrant, *, for_own_scopes: bool) -> None:
    previous_state = credential.state
    now = timezone.now()
    _apply_grant(credential, grant, now=now, for_own_scopes=for_own_scopes)
    if credential.is_delegated:
        credential.refresh_token_used_at = now
    credential.save()
    if previous_state != credential.state:
        _state_changed(credential, previous_state)
        # Only another state is ever told to the admins, and every way back to active clears it: a credential
        # that was active has nothing to clear (the routine refresh makes no query for it).
        _notifications_clear(credential)


def _mark_retrying(credential: MicrosoftCredential, exc: microsoft_errors.MicrosoftError) -> None:
    previous_state = credential.state
    now = timezone.now()
    credential.attempts += 1
    delay = retry_delay(
        credential.attempts, retry_after=exc.retry_after, first=RETRY_BACKOFF_FIRST, maximum=RETRY_BACKOFF_MAX
    )
    credential.state = CredentialState.RETRYING
    credential.state_reason = exc.explanation
    credential.last_error_code = exc.code
    credential.retrying_since = credential.retrying_since or now
    credential.next_attempt_at = now + delay
    credential.save()
    if previous_state != credential.state:
        _state_changed(credential, previous_state)
    if now - credential.retrying_since >= RETRYING_NOTIFY_AFTER:
        _notify_admins(credential, "Microsoft has been failing for a day; the connection keeps retrying.")
    _queue_refresh(credential.pk, countdown=delay.total_seconds())
    logger.warning(
        "Credential %s retrying in %ss: error=%s code=%s", credential.pk, delay.total_seconds(), exc.error, exc.code
    )


def _mark_needs_person(credential: MicrosoftCredential, exc: microsoft_errors.MicrosoftError) -> None:
    previous_state = credential.state
    credential.state = CredentialState.NEEDS_CONSENT if exc.code in CONSENT_CODES else CredentialState.NEEDS_RECONNECT
    # The token cache is kept: after a fix outside the portal (a new app secret) it works again.
    credential.state_reason = exc.explanation
    credential.last_error_code = exc.code
    credential.retrying_since = None
    credential.next_attempt_at = None
    credential.attempts = 0
    credential.save()
    if previous_state != credential.state:
        _state_changed(credential, previous_state)
    _notify_admins(credential, credential.state_reason)
    logger.warning("Credential %s %s: error=%s code=%s", credential.pk, credential.state, exc.error, exc.code)


def _state_changed(credential: MicrosoftCredential, previous_state: str) -> None:
    audit_record(
        actor=None,
        action="credential.state_changed",
        target=credential,
        details={
            **_audit_details(credential),
            "from": previous_state,
            "to": credential.state,
            "reason": credential.state_reason,
            "code": credential.last_error_code,
        },
    )


def _notify_admins(credential: MicrosoftCredential, reason: str) -> None:
    credential_needs_person.send(sender=MicrosoftCredential, credential=credential, reason=reason)


def _notifications_clear(credential: MicrosoftCredential) -> None:
    credential_healthy.send(sender=MicrosoftCredential, credential=credential)


def _queue_refresh(credential_id: int, *, countdown: float | None = None) -> None:
    from credentials.tasks import credential_refresh_task  # the tasks module imports this one

    work_queue(credential_refresh_task, credential_id, countdown=countdown)


# --- reading the stored credential ------------------------------------------------------------------------


def _owned_credential(
    *, tenant: Tenant, owner_type: str, owner_id: int, user: User | None, directory_id: str
) -> MicrosoftCredential:
    _check_user_tenant(tenant, user)
    credential = selectors.credential_of_owner(owner_type=owner_type, owner_id=owner_id, user=user)
    if credential is None:
        raise CredentialMissing()
    if credential.tenant_id != tenant.pk:
        raise CredentialMismatch(f"The {owner_type} #{owner_id} credential belongs to another Roger tenant.")
    if credential.directory_id != _normalized(directory_id):
        raise CredentialMismatch(
            f"The {owner_type} #{owner_id} credential is bound to another Microsoft directory than the one asked for."
        )
    return credential


def _check_user_tenant(tenant: Tenant, user: User | None) -> None:
    if user is not None and user.tenant_id != tenant.pk:
        raise CredentialMismatch("The user belongs to another Roger tenant.")


def _check_grant_directory(grant: TokenGrant, directory_id: str) -> None:
    if grant.account is None:
        raise CredentialMismatch("The sign-in returned no account, so it cannot be bound to a directory.")
    if _normalized(grant.account.tenant_id) != directory_id:
        raise CredentialMismatch("The account signed in to another Microsoft directory than the one connected.")


def _cached_access_token(credential: MicrosoftCredential, scopes: Iterable[str], *, margin: timedelta) -> str | None:
    """The stored access token covering `scopes` that stays valid beyond `margin`, or None (no call)."""
    valid_until = timezone.now() + margin
    if credential.access_token_expires_at is None or credential.access_token_expires_at <= valid_until:
        return None
    return cached_access_token(
        token_cache=credential.token_cache,
        client_id=credential.client_id,
        home_account_id=credential.account_home_id if credential.is_delegated else None,
        scopes=scopes,
        valid_until=valid_until,
    )


def _unavailable(credential: MicrosoftCredential) -> CredentialUnavailable:
    fix_url = owner_type_get(credential.owner_type).fix_url_for(credential)
    return CredentialUnavailable(credential.state, credential.state_reason, fix_url)


def _waiting(
    credential: MicrosoftCredential, cause: microsoft_errors.MicrosoftError | None = None
) -> microsoft_errors.TransientError:
    if isinstance(cause, microsoft_errors.TransientError):
        return cause
    seconds = (credential.next_attempt_at - timezone.now()).total_seconds() if credential.next_attempt_at else None
    return microsoft_errors.TransientError(
        credential.state_reason or "Microsoft is temporarily unavailable. It will be retried automatically.",
        code=credential.last_error_code,
        error="retrying",
        retry_after=max(0.0, seconds) if seconds is not None else None,
    )


def _audit_details(credential: MicrosoftCredential) -> dict[str, object]:
    return {
        "owner_type": credential.owner_type,
        "owner_id": credential.owner_id,
        "user_id": credential.user_id,
        "kind": credential.kind,
        "directory_id": credential.directory_id,
        "client_id": credential.client_id,
    }


def _normalized(directory_id: str) -> str:
    return directory_id.strip().lower()
