"""Deliver a document to a user's OneDrive scan folder, as a device's Scan to OneDrive will."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.selectors import tenant_by_name, user_by_email
from onedrive.choices import ScanOrigin
from onedrive.errors import OneDriveError
from onedrive.services.scanning import scan_delivery_create
from throttling.services import Throttled


class Command(BaseCommand):
    help = "Send a scanned document to a user's OneDrive scan folder (the upload runs in the background)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenancy", help="The Roger tenant's tenancy name, e.g. contoso.")
        parser.add_argument("email", help="The user's email in that tenant.")
        parser.add_argument("path", type=Path, help="The scanned document.")
        parser.add_argument("--name", help="The file name in OneDrive (default: the file's own).")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_by_name(name=options["tenancy"])
        user = user_by_email(tenant=tenant, email=options["email"]) if tenant is not None else None
        if user is None:
            raise CommandError("No such user in that tenant.")
        path: Path = options["path"]
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        with path.open("rb") as source:
            try:
                delivery = scan_delivery_create(
                    user=user, name=options["name"] or path.name, document=File(source), origin=ScanOrigin.COMMAND
                )
            except (OneDriveError, Throttled) as exc:
                raise CommandError(getattr(exc, "message", "Too many scans: try again later.")) from exc
        self.stdout.write(f"Scan {delivery.pk} queued for {delivery.folder} in {user.email}'s OneDrive.")
