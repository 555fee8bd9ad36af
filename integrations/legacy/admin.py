"""Django admin for the operator: the settings from before integrations, their migration, and the switches away
from the legacy app."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.selectors import tenants_by_ids
from integrations.admin import operator_of
from integrations.legacy.models import (
    LegacyCloudServicesSettings,
    LegacySwitch,
    LegacyUniversalPrintSettings,
    LegacyUserSyncSettings,
)
from integrations.legacy.services.migration import legacy_migrate


@admin.register(LegacySwitch)
class LegacySwitchAdmin(admin.ModelAdmin):
    list_display = ("__str__", "tenant", "actor", "tokens_deleted", "created_at")
    readonly_fields = [f.name for f in LegacySwitch._meta.fields if f.name != "id"] + ["affected_users"]


class LegacySettingsAdmin(admin.ModelAdmin):
    """The settings from before integrations; the action migrates the selected rows' tenants."""

    list_display: tuple[str, ...] = ("__str__", "tenant", "directory_id", "migrated_at")
    list_filter = ("migrated_at",)
    search_fields = ("tenant__name", "directory_id")
    readonly_fields = ("migrated_at",)
    actions = ["run_migration"]

    @admin.action(description="Run migration for this tenant")
    def run_migration(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        tenant_ids = set(queryset.values_list("tenant_id", flat=True))
        for tenant in tenants_by_ids(ids=tenant_ids).order_by("name"):
            plan = legacy_migrate(tenant=tenant, actor=operator_of(request))
            level = messages.WARNING if plan.refused else messages.SUCCESS
            self.message_user(request, " ".join(line.strip() for line in plan.lines()), level)


@admin.register(LegacyUserSyncSettings)
class LegacyUserSyncSettingsAdmin(LegacySettingsAdmin):
    list_display = ("__str__", "tenant", "enabled", "directory_id", "migrated_at")


@admin.register(LegacyUniversalPrintSettings)
class LegacyUniversalPrintSettingsAdmin(LegacySettingsAdmin):
    list_display = ("__str__", "tenant", "enabled", "directory_id", "migrated_at")


@admin.register(LegacyCloudServicesSettings)
class LegacyCloudServicesSettingsAdmin(LegacySettingsAdmin):
    list_display = ("__str__", "tenant", "onedrive_enabled", "sharepoint_enabled", "directory_id", "migrated_at")
