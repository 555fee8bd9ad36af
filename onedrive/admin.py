from django.contrib import admin

from onedrive.models import OneDrivePreference, OneDrivePrint, ScanDelivery


@admin.register(OneDrivePreference)
class OneDrivePreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "tenant", "printed_action", "scan_folder", "updated_at")
    raw_id_fields = ("user",)


@admin.register(OneDrivePrint)
class OneDrivePrintAdmin(admin.ModelAdmin):
    list_display = ("item_name", "tenant", "user", "stage", "status", "action", "attempts", "created_at")
    list_filter = ("status", "stage", "tenant")
    raw_id_fields = ("user", "job")
    readonly_fields = ("lease_until", "lease_token")


@admin.register(ScanDelivery)
class ScanDeliveryAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "user", "status", "size", "attempts", "created_at", "delivered_at")
    list_filter = ("status", "tenant")
    raw_id_fields = ("user",)
    # The upload session's URL is a credential: never shown.
    exclude = ("upload_session",)
    readonly_fields = ("lease_until", "lease_token")
