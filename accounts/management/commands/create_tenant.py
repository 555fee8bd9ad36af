from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Tenant, tenancy_name_validator
from accounts.services import tenant_create


class Command(BaseCommand):
    help = "Create a Roger tenant with its first admin, without prompts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Tenancy name (what users type at sign-in)")
        parser.add_argument("--display-name", default="")
        parser.add_argument("--admin-email", required=True)
        parser.add_argument("--admin-password", required=True)
        parser.add_argument("--if-missing", action="store_true", help="Do nothing when the tenant exists.")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].lower()
        try:
            tenancy_name_validator(name)
        except ValidationError as error:
            raise CommandError(f"Invalid tenancy name {name!r}: {error.messages[0]}") from error
        if Tenant.objects.filter(name=name).exists():
            if options["if_missing"]:
                self.stdout.write(f"Tenant {name} already exists.")
                return
            raise CommandError(f"A tenant named {name!r} already exists.")
        tenant_create(
            name=name,
            display_name=options["display_name"],
            admin_email=options["admin_email"],
            admin_password=options["admin_password"],
        )
        self.stdout.write(self.style.SUCCESS(f"Created tenant {name} with admin {options['admin_email']}."))
