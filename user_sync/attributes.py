"""The directory attributes the settings may name, how each is read from a Graph user, and alias formats.

Names are Graph's (`givenName`, `department`); `costCenter` and `division` are `employeeOrgData`'s and
`extensionAttribute1`..`15` are `onPremisesExtensionAttributes`'. A run `$select`s exactly what its settings use:
Graph tracks only selected properties, so a change to anything else never brings a user back.

Reference: https://learn.microsoft.com/graph/api/resources/user
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

# Every run reads these: the identity, whether the account works, and what the Roger user shows.
BASE_SELECT = ("id", "accountEnabled", "userPrincipalName", "mail", "displayName", "givenName", "surname", "userType")

_PLAIN = (
    "givenName",
    "surname",
    "displayName",
    "mail",
    "userPrincipalName",
    "mailNickname",
    "employeeId",
    "department",
    "jobTitle",
    "officeLocation",
    "companyName",
    "city",
    "country",
    "mobilePhone",
)
_ORG = {"costCenter": "costCenter", "division": "division"}
_EXTENSIONS = tuple(f"extensionAttribute{n}" for n in range(1, 16))
ALLOWED = (*_PLAIN, *_ORG, *_EXTENSIONS)
_BY_LOWER = {name.lower(): name for name in ALLOWED}
_PLACEHOLDER = re.compile(r"%([^%]*)%")


class AttributeUnknown(ValueError):
    def __init__(self, names: Iterable[str]) -> None:
        self.names = list(names)
        super().__init__(", ".join(self.names))


def canonical(name: str) -> str | None:
    """The attribute's Graph name (`surName` is `surname`), or None when it is not one the sync reads."""
    return _BY_LOWER.get(name.strip().lower())


def graph_property(name: str) -> str:
    """The top-level property to `$select` for an attribute."""
    if name in _ORG:
        return "employeeOrgData"
    if name in _EXTENSIONS:
        return "onPremisesExtensionAttributes"
    return name


def value_of(user: Mapping[str, Any], name: str) -> str:
    """The attribute's value on a Graph user ('' when unset)."""
    if name in _ORG:
        org = user.get("employeeOrgData") or {}
        value = org.get(_ORG[name]) if isinstance(org, Mapping) else None
    elif name in _EXTENSIONS:
        extensions = user.get("onPremisesExtensionAttributes") or {}
        value = extensions.get(name) if isinstance(extensions, Mapping) else None
    else:
        value = user.get(name)
    return "" if value is None else str(value).strip()


def alias_formats_parse(text: str) -> list[list[str | tuple[str]]]:
    """`%givenName%.%surname%;%surname%-%givenName%` as formats: literal text and (attribute,) placeholders.

    Raises AttributeUnknown with the unknown names; a format without any placeholder is refused too (every user
    would get the same alias).
    """
    formats: list[list[str | tuple[str]]] = []
    unknown: list[str] = []
    for raw in text.split(";"):
        raw = raw.strip()
        if not raw:
            continue
        parts: list[str | tuple[str]] = []
        position = 0
        for match in _PLACEHOLDER.finditer(raw):
            if match.start() > position:
                parts.append(raw[position : match.start()])
            name = canonical(match.group(1))
            if name is None:
                unknown.append(match.group(1) or "%%")
            else:
                parts.append((name,))
            position = match.end()
        if position < len(raw):
            parts.append(raw[position:])
        if not any(isinstance(part, tuple) for part in parts):
            unknown.append(raw)
        formats.append(parts)
    if unknown:
        raise AttributeUnknown(unknown)
    return formats


def alias_fields(text: str) -> list[str]:
    names: list[str] = []
    for parts in alias_formats_parse(text):
        names.extend(part[0] for part in parts if isinstance(part, tuple))
    return names


def aliases_of(user: Mapping[str, Any], formats: list[list[str | tuple[str]]]) -> list[str]:
    """The user's aliases (lowercase, without spaces); a format with an empty placeholder gives none."""
    aliases: list[str] = []
    for parts in formats:
        pieces = []
        for part in parts:
            if isinstance(part, tuple):
                value = value_of(user, part[0])
                if not value:
                    break
                pieces.append(value)
            else:
                pieces.append(part)
        else:
            alias = "".join(pieces).replace(" ", "").lower()
            if alias and alias not in aliases:
                aliases.append(alias)
    return aliases
