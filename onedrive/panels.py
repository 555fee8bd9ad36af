"""OneDrive on the Jobs page: Print from OneDrive, Scan to OneDrive, and what the background does for them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from onedrive import selectors

if TYPE_CHECKING:
    from accounts.models import User

RECENT = 10


def jobs_panel_context(user: User) -> dict[str, Any] | None:
    """None when OneDrive is not enabled in the user's Roger tenant."""
    connection = selectors.onedrive_connection(user=user)
    if connection is None:
        return None
    return {
        "connection": connection,
        "prints": list(selectors.user_prints(user=user)[:RECENT]),
        "scans": list(selectors.user_scans(user=user)[:RECENT]),
        "working": selectors.anything_working(user=user),
    }
