from django.contrib import admin

from print_jobs.models import PrintJob, Queue


@admin.register(PrintJob)
class PrintJobAdmin(admin.ModelAdmin):
    list_display = ("title", "tenant", "owner", "source", "source_label", "queue", "status", "size", "received_at")
    list_filter = ("source", "status", "tenant")
    search_fields = ("title", "owner__email", "source_key")
    raw_id_fields = ("owner", "queue")


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "created_at")
    list_filter = ("tenant",)
    search_fields = ("name",)
