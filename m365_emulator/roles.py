"""Entra's built-in directory roles the emulator knows, by template id (what a `wids` claim carries).

Real ids (https://learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference): the
emulator plays Microsoft, so it keeps its own copy rather than importing the portal's.
"""

from __future__ import annotations

GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
PRIVILEGED_ROLE_ADMINISTRATOR = "e8611ab8-c189-46e8-94e1-60213ab1f814"
CLOUD_APPLICATION_ADMINISTRATOR = "158c047a-c907-4556-b7ef-446551a6b5f7"
APPLICATION_ADMINISTRATOR = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
PRINTER_ADMINISTRATOR = "644ef478-e28f-4e28-b9dc-3fdde9aa0b1f"
# Every member of a directory holds the default "User" role; Entra lists it in `wids` too.
MEMBER = "b79fbf4d-3ef9-4689-8143-76b194e85509"

# Roles that may grant admin consent to an app in their directory.
CONSENTING_ADMINISTRATORS = frozenset(
    {GLOBAL_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR, CLOUD_APPLICATION_ADMINISTRATOR, APPLICATION_ADMINISTRATOR}
)
# Only these may grant Microsoft Graph application permissions (app roles).
GRAPH_APP_ROLE_CONSENTERS = frozenset({GLOBAL_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR})
# groupMembershipClaims values that put the user's directory roles into tokens as `wids`.
ROLE_CLAIM_SETTINGS = frozenset({"DirectoryRole", "All"})
