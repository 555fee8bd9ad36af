"""The Microsoft Entra directory roles that make someone an administrator of a directory, by template id.

A signed-in user's active roles come in the `wids` claim of the id token (emitted only when the app is
registered with directory-role claims: `groupMembershipClaims` `DirectoryRole` or `All`). A role that is only
eligible in Privileged Identity Management is absent until the person activates it. This module is the one place
that names these roles.
Reference: https://learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "ADMINISTRATOR_ROLES",
    "APPLICATION_PERMISSION_CONSENTERS",
    "DirectoryRole",
    "administrator_roles_held",
    "names",
]


@dataclass(frozen=True)
class DirectoryRole:
    template_id: str
    name: str
    # Whether the role can grant admin consent to Microsoft Graph application permissions (app roles).
    consents_to_graph_application_permissions: bool


GLOBAL_ADMINISTRATOR = DirectoryRole("62e90394-69f5-4237-9190-012177145e10", "Global Administrator", True)
PRIVILEGED_ROLE_ADMINISTRATOR = DirectoryRole(
    "e8611ab8-c189-46e8-94e1-60213ab1f814", "Privileged Role Administrator", True
)
CLOUD_APPLICATION_ADMINISTRATOR = DirectoryRole(
    "158c047a-c907-4556-b7ef-446551a6b5f7", "Cloud Application Administrator", False
)
APPLICATION_ADMINISTRATOR = DirectoryRole("9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", "Application Administrator", False)

# Who counts as an administrator of a directory when proving it: each of these can consent to apps there.
ADMINISTRATOR_ROLES: tuple[DirectoryRole, ...] = (
    GLOBAL_ADMINISTRATOR,
    PRIVILEGED_ROLE_ADMINISTRATOR,
    CLOUD_APPLICATION_ADMINISTRATOR,
    APPLICATION_ADMINISTRATOR,
)
APPLICATION_PERMISSION_CONSENTERS: tuple[DirectoryRole, ...] = tuple(
    role for role in ADMINISTRATOR_ROLES if role.consents_to_graph_application_permissions
)


def administrator_roles_held(wids: Iterable[str]) -> tuple[DirectoryRole, ...]:
    """The administrator roles among the template ids of a `wids` claim, most powerful first."""
    held = {str(template_id).lower() for template_id in wids}
    return tuple(role for role in ADMINISTRATOR_ROLES if role.template_id in held)


def names(roles: Iterable[DirectoryRole], *, conjunction: str = "or") -> str:
    """'Global Administrator or Privileged Role Administrator', for messages."""
    listed = [role.name for role in roles]
    if len(listed) <= 1:
        return "".join(listed)
    return f"{', '.join(listed[:-1])} {conjunction} {listed[-1]}"
