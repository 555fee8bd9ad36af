"""User Synchronization's Graph calls with the feature's app-only token (client credentials, `User.Read.All` and
`Group.Read.All`) in the integration's directory, from the one token store (integrations.services.tokens), kept for
a few minutes by the worker and fetched again once when Graph refuses it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from integrations.services.tokens import feature_app_token
from microsoft import errors as microsoft_errors
from microsoft.graph import graph_list

if TYPE_CHECKING:
    from integrations.models import Feature

T = TypeVar("T")

PERMISSIONS = ("User.Read.All", "Group.Read.All")


# A run reads hundreds of pages in a row: a worker keeps the token it got for a few minutes rather than decrypting
# the token store's cache for every page (tokens last an hour; a refused one is fetched again at once).
_KEEP_SECONDS = 300
_recent: dict[tuple[int, str], tuple[float, str]] = {}


def _kept_token(feature: Feature) -> str:
    key = (feature.pk, feature.directory_id)
    kept = _recent.get(key)
    if kept is not None and time.monotonic() - kept[0] < _KEEP_SECONDS:
        return kept[1]
    token = feature_app_token(feature)
    _recent[key] = (time.monotonic(), token)
    return token


def with_app_token(feature: Feature, call: Callable[[str], T]) -> T:
    """`call(token)`, again with a new token when Graph refused the stored one (revoked, or clocks disagree)."""
    try:
        return call(_kept_token(feature))
    except microsoft_errors.AccessTokenRejected:
        token = feature_app_token(feature, fresh=True)
        _recent[(feature.pk, feature.directory_id)] = (time.monotonic(), token)
        return call(token)


def listed(feature: Feature, url: str) -> list[dict[str, Any]]:
    """Every object of a small Graph collection (the selected groups' members, group ids to check)."""

    def call(token: str) -> list[dict[str, Any]]:
        return list(graph_list(token=token, url=url))

    return with_app_token(feature, call)
