"""The user's OneDrive connection at use: the token, preferences, disconnecting.

Only the user's own requests and jobs use their token: every call names the user whose row (request, print,
delivery) it works for, and the token store hands a token only to its own owner, Roger tenant and directory.
A Graph 401 gets a fresh token once; a 403 on the user's own files means the permission was withdrawn: the
connection is marked "needs reconnect" (the user is told once by email and sees a banner), and nothing retries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import audit_record
from credentials.errors import CredentialUnavailable
from credentials.selectors import credential_list
from credentials.services import credential_access_token, credential_delete, credential_refused
from integrations.choices import FeatureType
from integrations.selectors import FEATURE_OWNER_TYPE, features_of_type
from microsoft import errors as microsoft_errors
from onedrive.choices import PrintStatus, ScanStatus
from onedrive.errors import RECONNECT_MESSAGE, ReconnectNeeded
from onedrive.models import OneDrivePreference, OneDrivePrint, ScanDelivery
from onedrive.selectors import tenant_of, user_credential

if TYPE_CHECKING:
    from accounts.models import Tenant, User
    from integrations.models import Feature

logger = logging.getLogger(__name__)
T = TypeVar("T")


def with_user_token(*, user: User, feature: Feature, call: Callable[[str], T]) -> T:
    """`call(token)` with the user's own OneDrive token. Raises ReconnectNeeded when the user must act, and
    microsoft.errors (TransientError: try again later) otherwise."""
    for fresh in (False, True):
        token = _token(user, feature, force_refresh=fresh)
        try:
            return call(token)
        except microsoft_errors.AccessTokenRejected as exc:
            if fresh:  # a brand-new token refused too: Microsoft's side, try again later
                raise microsoft_errors.TransientError(exc.explanation, status=exc.status) from exc
            logger.info("OneDrive token of user %s refused; asking for a new one", user.pk)
        except microsoft_errors.PermissionMissing as exc:
            _refused(user, feature, exc)
            raise ReconnectNeeded(RECONNECT_MESSAGE) from exc
    raise AssertionError("unreachable")


def _token(user: User, feature: Feature, *, force_refresh: bool) -> str:
    credential = user_credential(user=user, feature=feature)
    if credential is None:
        raise ReconnectNeeded("Connect your OneDrive first, in My Settings > Cloud Services.")
    try:
        return credential_access_token(
            tenant=tenant_of(user),
            owner_type=FEATURE_OWNER_TYPE,
            owner_id=feature.pk,
            directory_id=credential.directory_id,
            user=user,
            force_refresh=force_refresh,
        )
    except CredentialUnavailable as exc:
        raise ReconnectNeeded(RECONNECT_MESSAGE) from exc


def _refused(user: User, feature: Feature, error: microsoft_errors.MicrosoftError) -> None:
    credential = user_credential(user=user, feature=feature)
    if credential is not None:
        credential_refused(credential_id=credential.pk, error=error)


def preference_save(*, user: User, printed_action: str, scan_folder: str) -> OneDrivePreference:
    with transaction.atomic():
        preference, _ = OneDrivePreference.objects.select_for_update().get_or_create(
            user=user, defaults={"tenant": user.tenant}
        )
        before = {"printed_action": preference.printed_action, "scan_folder": preference.scan_folder}
        preference.printed_action = printed_action
        preference.scan_folder = scan_folder
        preference.save()
        after = {"printed_action": printed_action, "scan_folder": scan_folder}
        if before != after:
            audit_record(
                tenant=tenant_of(user),
                actor=user,
                action="onedrive.preferences_changed",
                target=preference,
                details={"from": before, "to": after},
            )
    return preference


def connection_disconnect(*, user: User, feature: Feature) -> bool:
    """Forget the user's OneDrive connection (the token store audits it); False when there was none."""
    with transaction.atomic():
        deleted = credential_delete(
            tenant=tenant_of(user), owner_type=FEATURE_OWNER_TYPE, owner_id=feature.pk, user=user, actor=user
        )
        if deleted:
            audit_record(tenant=tenant_of(user), actor=user, action="onedrive.disconnected", target=feature)
    return bool(deleted)


DEACTIVATED = "Stopped: the account was deactivated. Once it is active again, connect OneDrive and try again."


def connections_end(*, tenant: Tenant, user_ids: list[int], actor: User | None) -> int:
    """The users were deactivated: their OneDrive connections (tokens) are forgotten, so nothing reaches their
    files any more, and their waiting OneDrive work (files to fetch or tidy, scans to deliver) stops instead of
    retrying; they connect again after a reactivation and use Try again. Returns how many were forgotten."""
    credentials = (
        credential_list(owner_type=FEATURE_OWNER_TYPE, tenant=tenant)
        .filter(
            owner_id__in=features_of_type(tenant=tenant, feature_type=FeatureType.ONEDRIVE).values("pk"),
            user_id__in=user_ids,
        )
        .select_related("tenant", "user")
    )
    ended = 0
    for credential in credentials:
        assert credential.user is not None
        ended += credential_delete(
            tenant=credential.tenant,
            owner_type=FEATURE_OWNER_TYPE,
            owner_id=credential.owner_id,
            user=credential.user,
            actor=actor,
        )
    _waiting_work_stop(user_ids)
    return ended


def _waiting_work_stop(user_ids: list[int]) -> None:
    """Work no worker holds now stops, waiting for the user; work a worker holds stops at its next Graph call,
    which finds no connection (an upload's last fragments go to the session's pre-authenticated URL)."""
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=timezone.now())
    stopped = {"result": DEACTIVATED, "next_attempt_at": None, "attempts": 0}
    OneDrivePrint.objects.filter(free, user_id__in=user_ids, status__in=PrintStatus.working()).update(
        status=PrintStatus.NEEDS_RECONNECT, **stopped
    )
    ScanDelivery.objects.filter(free, user_id__in=user_ids, status__in=ScanStatus.working()).update(
        status=ScanStatus.NEEDS_RECONNECT, **stopped
    )
