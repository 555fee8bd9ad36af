"""Turn the Microsoft settings from before integrations into integrations: every tenant, or one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.selectors import tenant_by_name
from integrations.legacy.services.migration import legacy_migrate, legacy_tenants

if TYPE_CHECKING:
    from accounts.models import Tenant


class Command(BaseCommand):
    help = (
        "Migrate Entra ID User Synchronization, Microsoft Universal Print and Cloud Services Settings into one "
        "integration per tenant (two app registrations), carrying enabled states and tokens over. Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="The tenancy name of one Roger tenant (default: every tenant).")
        parser.add_argument("--dry-run", action="store_true", help="Print what would be done and change nothing.")

    def handle(self, *args: Any, tenant: str | None = None, dry_run: bool = False, **options: Any) -> None:
        tenants = self._tenants(tenant)
        if dry_run:
            self.stdout.write("Dry run: nothing is changed.")
        changed = 0
        for each in tenants:
            plan = legacy_migrate(tenant=each, actor=None, dry_run=dry_run)
            changed += int(plan.has_work and not plan.refused)
            for line in plan.lines():
                self.stdout.write(line)
        verb = "would be migrated" if dry_run else "migrated"
        self.stdout.write(self.style.SUCCESS(f"{changed} of {len(tenants)} tenant(s) {verb}."))

    def _tenants(self, name: str | None) -> list[Tenant]:
        if name is None:
            return legacy_tenants()
        tenant = tenant_by_name(name=name)
        if tenant is None:
            raise CommandError(f"No Roger tenant has the tenancy name {name!r}.")
        return [tenant]
