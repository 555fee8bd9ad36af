"""OneDrive's background work (thin: fetch by id, call a service)."""

from __future__ import annotations

from celery import shared_task

from background.kinds import work_status
from onedrive.services.printing import print_work
from onedrive.services.scanning import scan_deliver


@shared_task(name="onedrive.print_work")
def print_work_task(print_id: int) -> str | None:
    """Fetch a file into its print job, or apply the Printed Job preference once it is printed."""
    return work_status(lambda: print_work(print_id=print_id))


@shared_task(name="onedrive.scan_deliver")
def scan_deliver_task(delivery_id: int) -> str | None:
    """Upload a scan into its user's scan folder."""
    return work_status(lambda: scan_deliver(delivery_id=delivery_id))
