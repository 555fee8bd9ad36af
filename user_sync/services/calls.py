"""The feature's app-only Graph token (client credentials, `User.Read.All` and `Group.Read.All`) in the integration's
directory, from the one token store; fetched again once when Graph refuses the stored one."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from credentials.errors import CredentialMissing
from credentials.services import credential_access_token
from integrations.models import Feature
from integrations.selectors import FEATURE_OWNER_TYPE
from integrations.services.tokens import feature_app_token_acquire, feature_app_tokens_save
from microsoft import errors as microsoft_errors
from microsoft.graph import graph_list

T = TypeVar("T")

PERMISSIONS = ("User.Read.All", "Group.Read.All")


def app_token(feature: Feature, *, fresh: bool = False) -> str:
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


# A run reads hundreds of pages in a row: a worker keeps the token it got for a few minutes rather than decrypting
# the token store's cache for every page (tokens last an hour; a refused one is fetched again at once).
_KEEP_SECONDS = 300
_recent: dict[tuple[int, str], tuple[float, str]] = {}


def _kept_token(feature: Feature) -> str:
    key = (feature.pk, feature.directory_id)
    kept = _recent.get(key)
    if kept is not None and time.monotonic() - kept[0] < _KEEP_SECONDS:
        return kept[1]
    token = app_token(feature)
    _recent[key] = (time.monotonic(), token)
    return token


def with_app_token(feature: Feature, call: Callable[[str], T]) -> T:
    """`call(token)`, again with a new token when Graph refused the stored one (revoked, or clocks disagree)."""
    try:
        return call(_kept_token(feature))
    except microsoft_errors.AccessTokenRejected:
        token = app_token(feature, fresh=True)
        _recent[(feature.pk, feature.directory_id)] = (time.monotonic(), token)
        return call(token)


def listed(feature: Feature, url: str) -> list[dict[str, Any]]:
    """Every object of a small Graph collection (the selected groups' members, group ids to check)."""

    def call(token: str) -> list[dict[str, Any]]:
        return list(graph_list(token=token, url=url))

    return with_app_token(feature, call)
