from __future__ import annotations

from django.contrib import admin

from mail_servers.models import MailServerAccount


@admin.register(MailServerAccount)
class MailServerAccountAdmin(admin.ModelAdmin):
    list_display = ("tenant", "protocol", "kind", "exchange_system", "shared_mailbox", "host", "port", "status")
    list_filter = ("protocol", "kind", "status")
    search_fields = ("tenant__name", "tenant__display_name", "host", "username", "shared_mailbox")
    exclude = ("password",)  # write-only: the tenant admin sets it on the page that uses the server
    readonly_fields = (
        "status",
        "status_reason",
        "fix_url",
        "status_since",
        "test_status",
        "test_folders",
        "test_steps",
        "test_requested_at",
        "test_finished_at",
        "next_attempt_at",
        "attempts",
        "lease_until",
        "created_at",
        "updated_at",
    )
