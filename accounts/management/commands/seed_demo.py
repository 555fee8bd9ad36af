from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from accounts.choices import Role
from accounts.models import Tenant, User
from accounts.services import tenant_create

DEMO_TENANCY = "contoso"
DEMO_ADMIN = "admin@contoso.example"
DEMO_PASSWORD = "demo-password-1"  # the printed demo sign-in
# A Contoso employee who also exists in the emulator's Contoso directory, so mail she sends prints as hers.
DEMO_USER = "adele.vance@contoso.onmicrosoft.com"


class Command(BaseCommand):
    help = "Create the demo Roger tenant with its admin and one user (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        if Tenant.objects.filter(name=DEMO_TENANCY).exists():
            self.stdout.write("Demo tenant already present.")
            return
        tenant = tenant_create(
            name=DEMO_TENANCY, display_name="Contoso Printing", admin_email=DEMO_ADMIN, admin_password=DEMO_PASSWORD
        )
        User.objects.create_user(
            tenant=tenant, email=DEMO_USER, password=DEMO_PASSWORD, role=Role.USER, full_name="Adele Vance"
        )
        self.stdout.write(self.style.SUCCESS("Created the demo tenant."))
