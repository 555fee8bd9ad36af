from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from outgoing_mail.choices import OutboundStatus
from outgoing_mail.models import OutboundEmail, OutgoingMailSettings
from outgoing_mail.tasks import outbound_email_send


@admin.register(OutgoingMailSettings)
class OutgoingMailSettingsAdmin(admin.ModelAdmin):
    list_display = ("tenant", "use_own_server", "mail_server", "from_address", "updated_at")
    list_filter = ("use_own_server", "mail_server__kind", "mail_server__status")
    search_fields = ("tenant__name", "mail_server__host", "mail_server__shared_mailbox", "from_address")
    raw_id_fields = ("mail_server",)  # the server and its write-only password are edited with the account
    readonly_fields = ("updated_at", "updated_by")


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    list_display = ("id", "tenant", "purpose", "subject", "status", "attempts", "failure_kind", "created_at", "sent_at")
    list_filter = ("status", "purpose", "failure_kind")
    search_fields = ("subject", "tenant__name")
    exclude = ("message",)  # the content can hold secrets (password reset links)
    readonly_fields = [f.name for f in OutboundEmail._meta.fields if f.name != "message"]
    actions = ["send_again"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Send again (queue the selected failed or stuck messages)")
    def send_again(self, request: HttpRequest, queryset: QuerySet[OutboundEmail]) -> None:
        ids = list(queryset.exclude(status=OutboundStatus.SENT).values_list("pk", flat=True))
        OutboundEmail.objects.filter(pk__in=ids).update(
            status=OutboundStatus.QUEUED, next_attempt_at=timezone.now(), attempts=0
        )
        for outbound_id in ids:
            outbound_email_send.delay(outbound_id)
        self.message_user(request, f"{len(ids)} message(s) queued again.")
