"""OneDrive's background work (thin: fetch by id, call a service)."""

from __future__ import annotations

from celery import shared_task

from onedrive.models import OneDrivePrint, ScanDelivery
from onedrive.services.printing import print_work
from onedrive.services.scanning import scan_deliver


@shared_task(name="onedrive.print_work")
def print_work_task(print_id: int) -> str | None:
    """Fetch a file into its print job, or apply the Printed Job preference once it is printed."""
    try:
        row = print_work(print_id=print_id)
    except OneDrivePrint.DoesNotExist:
        return None
    return row.status if row is not None else None


@shared_task(name="onedrive.scan_deliver")
def scan_deliver_task(delivery_id: int) -> str | None:
    """Upload a scan into its user's scan folder."""
    try:
        delivery = scan_deliver(delivery_id=delivery_id)
    except ScanDelivery.DoesNotExist:
        return None
    return delivery.status if delivery is not None else None
