from django.contrib import admin

from universal_print.models import AdminSignIn, Connection, Printer, ReceivedJob


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ("tenant", "directory_id", "client_id", "feature", "poll_status", "last_poll_at", "next_attempt_at")
    list_filter = ("poll_status",)
    readonly_fields = ("lease_until", "lease_token")


@admin.register(Printer)
class PrinterAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "feeds_roger", "trigger_id", "held_by_app_id", "queue", "removed_at")
    list_filter = ("feeds_roger",)
    search_fields = ("name", "printer_id")
    raw_id_fields = ("connection", "queue")


@admin.register(ReceivedJob)
class ReceivedJobAdmin(admin.ModelAdmin):
    list_display = ("up_job_id", "up_printer_id", "tenant", "outcome", "task_status", "owner", "received_at")
    list_filter = ("outcome", "task_status")
    search_fields = ("up_job_id", "up_printer_id", "creator_name")
    raw_id_fields = ("connection", "printer", "owner", "print_job")
    readonly_fields = ("lease_until", "lease_token")


@admin.register(AdminSignIn)
class AdminSignInAdmin(admin.ModelAdmin):
    list_display = ("account", "tenant", "status", "created_at", "finished_at")
    list_filter = ("status",)
    raw_id_fields = ("connection", "admin")
