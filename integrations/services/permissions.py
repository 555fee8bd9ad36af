"""What a directory actually granted a feature's app, learned from Microsoft after the consent.

The admin-consent answer proves nothing: its `scope` echoes the request (`/.default` names no permission) and
its `tenant` is not signed. Application permissions are read from the `roles` of an app-only token fetched
fresh from the token endpoint; Microsoft can take minutes to put newly consented roles into tokens, so a role
not there yet is rechecked in the background for a while before it is called missing. A token that cannot be
read leaves the permissions "checked on first use", and a 403 when one is used is the final word.
Delegated permissions show in a token response's `scope`, i.e. when someone signs in.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from background.claims import work_claim, work_release
from background.kinds import work_queue
from integrations.choices import ConsentState
from integrations.features import permission_names, short_permission
from integrations.models import AppRegistration, Feature
from integrations.services.tokens import feature_app_token_acquire
from microsoft import errors as microsoft_errors
from microsoft import identity

if TYPE_CHECKING:
    from accounts.models import User
    from microsoft.identity import TokenGrant

logger = logging.getLogger(__name__)

# How long newly consented roles may take to show in app tokens, and when to look again meanwhile.
ROLES_RECHECK_WINDOW = timedelta(minutes=15)
ROLES_RECHECK_DELAYS = (30, 60, 120, 240, 420)  # seconds after the previous check


def roles_record(*, features: Iterable[Feature], grant: TokenGrant, now: datetime, after_consent: bool) -> bool:
    """Store what the fresh app token says of each feature's application permissions; True when a needed role
    is not there yet and should be looked for again."""
    roles = identity.app_token_roles(grant.access_token)
    recheck = False
    for feature in features:
        feature.roles_checked_at = now
        feature.roles_unreadable = roles is None
        feature.granted_application = sorted(short_permission(role) for role in roles or ())
        missing = _missing(feature) if roles is not None else set()
        if after_consent:
            feature.roles_recheck_until = now + ROLES_RECHECK_WINDOW if missing else None
        elif not missing or feature.roles_recheck_until is None or now >= feature.roles_recheck_until:
            feature.roles_recheck_until = None
        recheck = recheck or feature.roles_recheck_until is not None
        feature.save(
            update_fields=[
                "roles_checked_at",
                "roles_unreadable",
                "granted_application",
                "roles_recheck_until",
                "updated_at",
            ]
        )
    return recheck


def _missing(feature: Feature) -> set[str]:
    return {name.lower() for name in feature.spec.application} - permission_names(feature.granted_application)


ROLES_RECHECK_LEASE = timedelta(minutes=2)


def _recheck_queue(app_id: int, *, delay: int) -> None:
    # Imported here: the task module imports this one (its task is app_roles_recheck_due below).
    from integrations.tasks import app_roles_recheck_task

    work_queue(app_roles_recheck_task, app_id, countdown=delay)


def roles_recheck_schedule(app: AppRegistration, *, now: datetime) -> None:
    """Look at the app's roles again a little later: background work of the app row (a lost task is taken up by
    the background sweep), queued once this transaction commits."""
    delay = ROLES_RECHECK_DELAYS[0]
    AppRegistration.objects.filter(pk=app.pk).update(next_attempt_at=now + timedelta(seconds=delay), attempts=0)
    _recheck_queue(app.pk, delay=delay)


def app_roles_recheck_due(*, app_id: int) -> bool | None:
    """The background step: claim the app's recheck, read its roles again, and say when to look next (after 30 s,
    1, 2, 4 and 7 minutes, within the window). None when there was nothing to do (not due, or held)."""
    rows = AppRegistration.objects.all()
    claim = work_claim(rows, app_id, lease=ROLES_RECHECK_LEASE)
    if claim is None:
        return None
    app = rows.get(pk=app_id)
    again = app_roles_recheck(app=app)
    attempts = app.attempts + 1
    delay = ROLES_RECHECK_DELAYS[attempts] if again and attempts < len(ROLES_RECHECK_DELAYS) else None
    next_at = timezone.now() + timedelta(seconds=delay) if delay is not None else None
    if work_release(rows, claim, next_attempt_at=next_at, attempts=attempts) and delay is not None:
        _recheck_queue(app_id, delay=delay)
    return again


def app_roles_recheck(*, app: AppRegistration, now: datetime | None = None) -> bool:
    """Fetch a fresh app token and record its roles for the app's features still waiting for some; True when
    another look is due (a role is still absent within the window, or Microsoft could not be asked)."""
    now = now or timezone.now()
    waiting = [
        f
        for f in Feature.objects.filter(app_registration=app, consent_state=ConsentState.GRANTED).select_related(
            "integration"
        )
        if f.spec.application and f.roles_recheck_until is not None
    ]
    if not waiting:
        return False
    try:
        grant = feature_app_token_acquire(app=app, directory_id=waiting[0].integration.directory_id)
    except microsoft_errors.TransientError:
        return now < min(f.roles_recheck_until or now for f in waiting)
    except microsoft_errors.MicrosoftError as exc:
        logger.info("Roles recheck of app %s stopped: %s", app.pk, exc.error)
        return False  # the consent itself is gone: the token store and the daily check report it
    with transaction.atomic():
        return roles_record(features=waiting, grant=grant, now=now, after_consent=False)


def feature_permission_refused(*, feature: Feature, permissions: Iterable[str], actor: User | None = None) -> None:
    """Microsoft answered 403 when the feature used these permissions: they are missing, whatever a token said,
    until the next consent."""
    names = sorted({short_permission(name) for name in permissions} | set(feature.refused_permissions))
    if names == sorted(feature.refused_permissions):
        return
    feature.refused_permissions = names
    feature.save(update_fields=["refused_permissions", "updated_at"])
    audit_record(
        actor=actor,
        action="integration.permission_refused",
        target=feature,
        details={"permissions": names},
    )


def feature_delegated_seen(*, feature: Feature, scopes: Iterable[str]) -> None:
    """A token response's `scope` (someone signed in) shows what the directory granted the app on behalf of its
    users: remember it for the feature's permissions."""
    seen = sorted(set(feature.granted_delegated) | {short_permission(scope) for scope in scopes})
    if seen != sorted(feature.granted_delegated):
        Feature.objects.filter(pk=feature.pk).update(granted_delegated=seen)
        feature.granted_delegated = seen
