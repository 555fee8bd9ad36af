"""The kinds of owner a credential can belong to. Each owning app registers its type in AppConfig.ready().

The store asks the owner, at refresh time, for the app's client id and secret (the secret stays with its
app registration), for a label to show people, and for the page where the problem is fixed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from microsoft.config import AppCredentials

if TYPE_CHECKING:
    from credentials.models import MicrosoftCredential

__all__ = ["OwnerType", "owner_type_get", "owner_type_register", "owner_type_unregister"]


@dataclass(frozen=True)
class OwnerType:
    name: str
    app_for: Callable[[MicrosoftCredential], AppCredentials]
    label_for: Callable[[MicrosoftCredential], str]
    fix_url_for: Callable[[MicrosoftCredential], str]


_owner_types: dict[str, OwnerType] = {}


def owner_type_register(owner_type: OwnerType) -> None:
    """Register (or replace, e.g. on autoreload) the owner type of that name."""
    _owner_types[owner_type.name] = owner_type


def owner_type_unregister(name: str) -> None:
    _owner_types.pop(name, None)


def owner_type_get(name: str) -> OwnerType:
    try:
        return _owner_types[name]
    except KeyError:
        raise LookupError(
            f"No credential owner type {name!r} is registered: its app must call owner_type_register() in ready()."
        ) from None
