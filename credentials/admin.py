"""The token store in Django admin: states and reasons at a glance, "refresh now". Never the cache or tokens."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from credentials.models import MicrosoftCredential
from credentials.services import credential_refresh_request


@admin.register(MicrosoftCredential)
class MicrosoftCredentialAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "tenant",
        "kind",
        "state",
        "short_reason",
        "access_token_expires_at",
        "refresh_token_used_at",
        "updated_at",
    )
    list_filter = ("state", "kind", "owner_type", "tenant")
    search_fields = ("account_username", "client_id", "directory_id", "tenant__name")
    list_select_related = ("tenant",)
    actions = ["refresh_now"]
    # token_cache is deliberately absent: it holds the refresh and access tokens.
    fields = (
        "tenant",
        "owner_type",
        "owner_id",
        "user",
        "kind",
        "directory_id",
        "client_id",
        "account_username",
        "scopes",
        "granted_scopes",
        "state",
        "state_reason",
        "last_error_code",
        "retrying_since",
        "next_attempt_at",
        "attempts",
        "lease_until",
        "access_token_expires_at",
        "refresh_token_used_at",
        "refreshed_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    @admin.display(description="reason")
    def short_reason(self, credential: MicrosoftCredential) -> str:
        reason = credential.state_reason
        return reason if len(reason) <= 120 else f"{reason[:117]}..."

    @admin.action(description="Refresh now")
    def refresh_now(self, request: HttpRequest, queryset: QuerySet[MicrosoftCredential]) -> None:
        count = 0
        for credential in queryset:
            credential_refresh_request(credential=credential, actor=request.user)  # type: ignore[arg-type]
            count += 1
        self.message_user(request, f"A refresh was queued for {count} credential(s).", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # credentials come from sign-ins, never typed in

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # owners delete through credential_delete, which writes the audit trail
