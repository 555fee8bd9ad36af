from django.contrib import admin

from print_jobs.models import PrintJob


@admin.register(PrintJob)
class PrintJobAdmin(admin.ModelAdmin):
    list_display = ("title", "tenant", "owner", "source", "status", "size", "received_at")
    list_filter = ("source", "status", "tenant")
    search_fields = ("title", "owner__email", "source_key")
    raw_id_fields = ("owner",)
