from django.contrib import admin

from microsoft_login.models import LoginSettings


@admin.register(LoginSettings)
class LoginSettingsAdmin(admin.ModelAdmin):
    """The tenants' Login with Microsoft rules, for the operator to look up (tenant admins change them)."""

    list_display = ("tenant", "allow_registration", "allow_personal_accounts", "updated_at")
    list_select_related = ("tenant",)
    readonly_fields = ("tenant", "updated_at")
