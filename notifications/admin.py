from django.contrib import admin

from notifications.models import AdminNotification


@admin.register(AdminNotification)
class AdminNotificationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "tenant", "subject", "key", "sent_at")
    list_filter = ("tenant",)
    search_fields = ("subject", "key")
