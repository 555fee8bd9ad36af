from __future__ import annotations

from django.contrib import admin

from mail_jobs.models import MailJobSource, ProcessedMessage


@admin.register(MailJobSource)
class MailJobSourceAdmin(admin.ModelAdmin):
    list_display = ("tenant", "enabled", "mail_server", "last_poll_at")
    list_filter = ("enabled", "mail_server__protocol", "mail_server__kind", "mail_server__status")
    search_fields = ("tenant__name", "tenant__display_name", "mail_server__host", "mail_server__shared_mailbox")
    raw_id_fields = ("mail_server",)  # the server and its write-only password are edited with the account
    readonly_fields = ("next_attempt_at", "attempts", "last_poll_at", "lease_until")


@admin.register(ProcessedMessage)
class ProcessedMessageAdmin(admin.ModelAdmin):
    list_display = ("processed_at", "tenant", "sender", "subject", "outcome", "jobs_created", "replied")
    list_filter = ("outcome", "replied")
    search_fields = ("sender", "subject", "message_key")
    readonly_fields = [f.name for f in ProcessedMessage._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False
