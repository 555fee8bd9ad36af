"""Feature tokens in the token store: owner type "feature", bound to the feature's directory (and user)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from django.urls import reverse

from credentials.choices import CredentialKind, CredentialState
from credentials.errors import CredentialMissing
from credentials.registry import OwnerType, owner_type_register
from credentials.selectors import credential_list
from credentials.services import (
    credential_access_token,
    credential_delete,
    credential_refresh_request,
    credential_save,
)
from integrations.models import Feature
from integrations.selectors import FEATURE_OWNER_TYPE
from microsoft import errors as microsoft_errors
from microsoft.config import GRAPH_DEFAULT_SCOPE, AppCredentials
from microsoft.identity import client_credentials_acquire

if TYPE_CHECKING:
    from accounts.models import Tenant, User
    from credentials.models import MicrosoftCredential
    from integrations.models import AppRegistration
    from microsoft.identity import TokenGrant

logger = logging.getLogger(__name__)

T = TypeVar("T")


def _feature_of(credential: MicrosoftCredential) -> Feature:
    return Feature.objects.select_related("integration", "app_registration").get(
        pk=credential.owner_id, tenant_id=credential.tenant_id
    )


def feature_app_for(credential: MicrosoftCredential) -> AppCredentials:
    """The token store asks for the app (and secret) behind a feature's credential at refresh time."""
    return _feature_of(credential).app_registration.credentials()


def feature_label_for(credential: MicrosoftCredential) -> str:
    return str(_feature_of(credential))


def feature_fix_url_for(credential: MicrosoftCredential) -> str:
    if credential.user_id is not None:  # a user's own connection (OneDrive): they reconnect it themselves
        return reverse("onedrive:cloud_services")
    return reverse("integrations:detail", args=[_feature_of(credential).integration_id])


def feature_owner_type_register() -> None:
    owner_type_register(
        OwnerType(
            name=FEATURE_OWNER_TYPE,
            app_for=feature_app_for,
            label_for=feature_label_for,
            fix_url_for=feature_fix_url_for,
        )
    )


def feature_app_token_acquire(*, app: AppRegistration, directory_id: str) -> TokenGrant:
    """The app's app-only Graph token in `directory_id`: getting one proves its admin consent is in place.

    Raises microsoft.errors.MicrosoftError (ReconsentRequired when the consent is missing or was removed).
    """
    return client_credentials_acquire(app=app.credentials(), tenant=directory_id, scope=GRAPH_DEFAULT_SCOPE)


def feature_app_tokens_save(*, features: Iterable[Feature], grant: TokenGrant, actor: User | None) -> None:
    """Store an app-only token (client credentials) for each feature, bound to its directory."""
    for feature in features:
        _token_save(feature, None, CredentialKind.APP_ONLY, feature.directory_id, [GRAPH_DEFAULT_SCOPE], grant, actor)


def feature_app_token(feature: Feature, *, fresh: bool = False) -> str:
    """The feature's app-only Graph token from the token store (renewed when `fresh`); one is fetched and stored
    when none is (features consented before their app token was kept)."""
    try:
        return credential_access_token(
            tenant=feature.tenant,
            owner_type=FEATURE_OWNER_TYPE,
            owner_id=feature.pk,
            directory_id=feature.directory_id,
            force_refresh=fresh,
        )
    except CredentialMissing:
        grant = feature_app_token_acquire(app=feature.app_registration, directory_id=feature.directory_id)
        feature_app_tokens_save(features=[feature], grant=grant, actor=None)
        return grant.access_token


def with_feature_app_token(feature: Feature, call: Callable[[str], T]) -> T:
    """`call(token)` with the feature's app token, again with a new one when Graph refused the stored one
    (revoked, or clocks disagree)."""
    try:
        return call(feature_app_token(feature))
    except microsoft_errors.AccessTokenRejected:
        return call(feature_app_token(feature, fresh=True))


def feature_user_token_save(*, feature: Feature, user: User, directory_id: str, grant: TokenGrant) -> None:
    """Store a user's own sign-in for the feature (OneDrive), bound to the directory they signed in to."""
    scopes = list(feature.spec.delegated)
    _token_save(feature, user, CredentialKind.DELEGATED_CONFIDENTIAL, directory_id, scopes, grant, user)


def _token_save(
    feature: Feature,
    user: User | None,
    kind: CredentialKind,
    directory_id: str,
    scopes: list[str],
    grant: TokenGrant,
    actor: User | None,
) -> None:
    credential_save(
        tenant=feature.tenant,
        owner_type=FEATURE_OWNER_TYPE,
        owner_id=feature.pk,
        user=user,
        kind=kind,
        directory_id=directory_id,
        client_id=feature.app_registration.client_id,
        scopes=scopes,
        grant=grant,
        actor=actor,
    )


def feature_user_tokens_retry(*, features: Iterable[Feature], actor: User | None) -> int:
    """Queue a refresh of the features' per-user tokens waiting for consent (after consent was granted)."""
    waiting = credential_list(owner_type=FEATURE_OWNER_TYPE, tenant=None).filter(
        owner_id__in=[f.pk for f in features], user__isnull=False, state=CredentialState.NEEDS_CONSENT
    )
    count = 0
    for credential in waiting:
        credential_refresh_request(credential=credential, actor=actor)
        count += 1
    return count


def feature_credentials_delete(*, tenant: Tenant, feature_ids: Iterable[int], keep_directory: str | None = None) -> int:
    """Delete the features' stored connections; with `keep_directory`, only those bound to other directories."""
    rows = (
        credential_list(owner_type=FEATURE_OWNER_TYPE, tenant=tenant)
        .filter(owner_id__in=list(feature_ids))
        .select_related("user")
    )
    dropped = list(rows if keep_directory is None else rows.exclude(directory_id__iexact=keep_directory))
    deleted = 0
    for owner_id in {row.owner_id for row in dropped}:
        if keep_directory is None or all(row in dropped for row in rows if row.owner_id == owner_id):
            deleted += credential_delete(tenant=tenant, owner_type=FEATURE_OWNER_TYPE, owner_id=owner_id)
            continue
        for user in {row.user for row in dropped if row.owner_id == owner_id and row.user is not None}:
            deleted += credential_delete(tenant=tenant, owner_type=FEATURE_OWNER_TYPE, owner_id=owner_id, user=user)
    return deleted
