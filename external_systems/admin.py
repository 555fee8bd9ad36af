"""Operator view of external systems. Device codes, flows and held sign-ins are never shown."""

from __future__ import annotations

from django.contrib import admin

from external_systems.models import DeviceCodeConnection, ExternalSystem

_CONNECTION_FIELDS = (
    "system",
    "tenant",
    "status",
    "user_code",
    "verification_uri",
    "interval",
    "expires_at",
    "next_attempt_at",
    "lease_until",
    "last_polled_at",
    "attempts",
    "signed_in_mailbox",
    "error_code",
    "error_message",
    "code_emailed_to",
    "requested_by",
    "created_at",
    "finished_at",
)


class DeviceCodeConnectionInline(admin.TabularInline):
    model = DeviceCodeConnection
    fields = ("status", "user_code", "expires_at", "signed_in_mailbox", "error_code", "created_at", "finished_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("-created_at",)

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(ExternalSystem)
class ExternalSystemAdmin(admin.ModelAdmin):
    list_display = ("title", "tenant", "system_type", "mailbox", "status", "connected_at", "updated_at")
    list_filter = ("system_type", "status", "tenant")
    search_fields = ("title", "mailbox", "client_id", "directory_id", "tenant__name")
    readonly_fields = ("directory_id", "mailbox", "status", "connected_at", "created_by", "created_at", "updated_at")
    list_select_related = ("tenant",)
    inlines = [DeviceCodeConnectionInline]


@admin.register(DeviceCodeConnection)
class DeviceCodeConnectionAdmin(admin.ModelAdmin):
    list_display = ("system", "tenant", "status", "expires_at", "signed_in_mailbox", "error_code", "created_at")
    list_filter = ("status",)
    search_fields = ("system__title", "signed_in_mailbox", "tenant__name")
    fields = _CONNECTION_FIELDS
    readonly_fields = _CONNECTION_FIELDS
    list_select_related = ("system", "tenant")

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False
