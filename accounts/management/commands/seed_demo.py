from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from accounts.models import Tenant
from accounts.services import tenant_create

DEMO_TENANCY = "contoso"
DEMO_ADMIN = "admin@contoso.example"
DEMO_PASSWORD = "demo-password-1"


class Command(BaseCommand):
    help = "Create the demo Roger tenant with its admin (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        if Tenant.objects.filter(name=DEMO_TENANCY).exists():
            self.stdout.write("Demo tenant already present.")
            return
        tenant_create(
            name=DEMO_TENANCY, display_name="Contoso Printing", admin_email=DEMO_ADMIN, admin_password=DEMO_PASSWORD
        )
        self.stdout.write(self.style.SUCCESS("Created the demo tenant."))
