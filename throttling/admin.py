from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from throttling.models import ThrottleWindow


@admin.register(ThrottleWindow)
class ThrottleWindowAdmin(admin.ModelAdmin):
    """Who is being limited right now; delete a row to lift its limit (for example a locked-out account)."""

    list_display = ("key", "events", "expires_at")
    search_fields = ("key",)
    readonly_fields = ("key", "hits", "expires_at")

    @admin.display(description="events counted")
    def events(self, window: ThrottleWindow) -> int:
        return len(window.hits)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ThrottleWindow | None = None) -> bool:
        return False
