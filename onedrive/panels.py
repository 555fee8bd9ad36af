"""OneDrive on the Jobs page: Print from OneDrive, Scan to OneDrive, and what the background does for them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.urls import reverse

from onedrive import selectors
from onedrive.choices import PrintStatus, ScanStatus
from ui.live import Live, version_of

if TYPE_CHECKING:
    from accounts.models import User

RECENT = 10


def jobs_panel_context(user: User) -> dict[str, Any] | None:
    """None when OneDrive is not enabled in the user's Roger tenant."""
    connection = selectors.onedrive_connection(user=user)
    if connection is None:
        return None
    prints = list(selectors.user_prints(user=user)[:RECENT])
    scans = list(selectors.user_scans(user=user)[:RECENT])
    # The worker commits whenever it is done, also between these reads: what the panel shows being worked on keeps
    # it polling, or the rows read before a commit would be shown as final (no poll, "Applying" for good). The query
    # adds what is being worked on beyond the rows shown.
    working = (
        any(row.status in PrintStatus.working() for row in prints)
        or any(scan.status in ScanStatus.working() for scan in scans)
        or selectors.anything_working(user=user)
    )
    shown = (
        [(row.pk, row.status, row.result) for row in prints],
        [(scan.pk, scan.status, scan.result) for scan in scans],
        connection.connected,
        connection.needs_attention,
    )
    live = Live(
        element_id="onedrive-panel",
        template="onedrive/partials/jobs_panel_body.html",
        url=reverse("onedrive:jobs_panel"),
        version=version_of(*shown),
        final=not working,
    )
    return {"connection": connection, "prints": prints, "scans": scans, "working": working, "live": live}
