from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from accounts.choices import Role
from accounts.models import Tenant, User
from accounts.services import tenant_create

DEMO_TENANCY = "contoso"
DEMO_ADMIN = "admin@contoso.example"
DEMO_PASSWORD = "demo-password-1"  # the printed demo sign-in
# A Contoso employee who also exists in the emulator's Contoso directory, so mail she sends prints as hers, and
# linked to her identity there (directory, object id), so what she prints through Universal Print is hers too.
DEMO_USER = "adele.vance@contoso.onmicrosoft.com"
DEMO_USER_IDENTITY = ("4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "a1b2c3d4-0002-4000-8000-00000000c002")


class Command(BaseCommand):
    help = "Create the demo Roger tenant with its admin and one user (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        if Tenant.objects.filter(name=DEMO_TENANCY).exists():
            self._link_demo_user()
            self.stdout.write("Demo tenant already present.")
            return
        tenant = tenant_create(
            name=DEMO_TENANCY, display_name="Contoso Printing", admin_email=DEMO_ADMIN, admin_password=DEMO_PASSWORD
        )
        User.objects.create_user(
            tenant=tenant, email=DEMO_USER, password=DEMO_PASSWORD, role=Role.USER, full_name="Adele Vance"
        )
        self._link_demo_user()
        self.stdout.write(self.style.SUCCESS("Created the demo tenant."))

    def _link_demo_user(self) -> None:
        directory_id, object_id = DEMO_USER_IDENTITY
        User.objects.filter(tenant__name=DEMO_TENANCY, email=DEMO_USER, directory_object_id="").update(
            directory_tenant_id=directory_id, directory_object_id=object_id
        )
