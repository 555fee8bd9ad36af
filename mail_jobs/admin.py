from __future__ import annotations

from django.contrib import admin

from mail_jobs.models import MailJobSource, ProcessedMessage


@admin.register(MailJobSource)
class MailJobSourceAdmin(admin.ModelAdmin):
    list_display = ("tenant", "enabled", "protocol", "server_kind", "last_poll_at", "last_poll_status")
    list_filter = ("enabled", "protocol", "server_kind", "last_poll_status")
    search_fields = ("tenant__name", "tenant__display_name", "custom_host", "shared_mailbox")
    exclude = ("custom_password",)  # write-only: set by the tenant admin on the Jobs page
    readonly_fields = (
        "next_attempt_at",
        "attempts",
        "last_poll_at",
        "last_poll_status",
        "last_poll_error",
        "fix_url",
        "lease_until",
        "test_status",
        "test_steps",
        "test_requested_at",
        "test_finished_at",
    )


@admin.register(ProcessedMessage)
class ProcessedMessageAdmin(admin.ModelAdmin):
    list_display = ("processed_at", "tenant", "sender", "subject", "outcome", "jobs_created", "replied")
    list_filter = ("outcome", "replied")
    search_fields = ("sender", "subject", "message_key")
    readonly_fields = [f.name for f in ProcessedMessage._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False
