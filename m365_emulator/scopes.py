"""Scope strings as Entra reads them: OIDC scopes, resource-qualified permissions and ``/.default``."""

from __future__ import annotations

from dataclasses import dataclass

GRAPH = "https://graph.microsoft.com"
OUTLOOK = "https://outlook.office.com"
OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
DEFAULT_PERMISSION = ".default"

# Resource identifiers that name the same API (app id URI, app id GUID, legacy host).
RESOURCE_ALIASES = {
    GRAPH: GRAPH,
    "00000003-0000-0000-c000-000000000000": GRAPH,
    OUTLOOK: OUTLOOK,
    "https://outlook.office365.com": OUTLOOK,
    "00000002-0000-0ff1-ce00-000000000000": OUTLOOK,
}
# Audiences that Exchange Online (SMTP, IMAP, POP) accepts in an access token.
OUTLOOK_AUDIENCES = frozenset(a for a, r in RESOURCE_ALIASES.items() if r == OUTLOOK)


def canonical_resource(resource: str) -> str:
    trimmed = resource.rstrip("/")
    return RESOURCE_ALIASES.get(trimmed.lower(), trimmed)


@dataclass(frozen=True)
class Permission:
    """One resource-qualified scope, e.g. ``https://outlook.office.com/SMTP.Send``."""

    audience: str  # the resource as the client wrote it (it becomes the token's ``aud``)
    name: str

    @property
    def resource(self) -> str:
        return canonical_resource(self.audience)

    @property
    def full_name(self) -> str:
        return f"{self.resource}/{self.name}"


@dataclass(frozen=True)
class ScopeRequest:
    raw: tuple[str, ...]
    oidc: frozenset[str]
    permissions: tuple[Permission, ...]

    @property
    def resources(self) -> list[str]:
        seen: list[str] = []
        for permission in self.permissions:
            if permission.resource not in seen:
                seen.append(permission.resource)
        return seen

    @property
    def text(self) -> str:
        return " ".join(self.raw)


def parse_permission(scope: str) -> Permission:
    if "://" in scope:
        audience, _, name = scope.rpartition("/")
        return Permission(audience, name)
    if "/" in scope:
        audience, _, name = scope.partition("/")
        return Permission(audience, name)
    return Permission(GRAPH, scope)  # a bare scope means Microsoft Graph


def parse_scopes(text: str) -> ScopeRequest:
    raw = tuple(part for part in text.split() if part)
    oidc = frozenset(s.lower() for s in raw if s.lower() in OIDC_SCOPES)
    permissions = tuple(parse_permission(s) for s in raw if s.lower() not in OIDC_SCOPES)
    return ScopeRequest(raw, oidc, permissions)
