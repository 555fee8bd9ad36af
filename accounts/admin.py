from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.models import EmailAlias, Tenant, User


class UserInline(admin.TabularInline):
    model = User
    fields = ("email", "full_name", "role", "source", "is_active")
    extra = 0
    show_change_link = True


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "display_name", "created_at")
    search_fields = ("name", "display_name")
    inlines = [UserInline]


class EmailAliasInline(admin.TabularInline):
    model = EmailAlias
    fields = ("email",)
    extra = 0


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("tenant__name", "email")
    list_display = ("email", "tenant", "role", "source", "is_active", "is_staff")
    list_filter = ("role", "source", "is_active", "is_staff", "tenant")
    search_fields = ("email", "full_name", "username")
    readonly_fields = ("username", "last_login", "date_joined", "deactivated_at")
    filter_horizontal = ("user_permissions",)  # groups are the tenant's user groups (through GroupMembership)
    inlines = [EmailAliasInline]
    fieldsets = (
        (None, {"fields": ("tenant", "username", "email", "full_name", "password")}),
        ("Role", {"fields": ("role", "source", "is_active", "is_staff", "is_superuser")}),
        ("Printing", {"fields": ("card", "cost_center", "deactivated_at", "deactivation_reason")}),
        ("Microsoft", {"fields": ("directory_tenant_id", "directory_object_id", "microsoft_reconnect_required")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"fields": ("tenant", "email", "role", "password1", "password2")}),)


@admin.register(EmailAlias)
class EmailAliasAdmin(admin.ModelAdmin):
    list_display = ("email", "user", "tenant")
    list_filter = ("tenant",)
    search_fields = ("email", "user__email")
    raw_id_fields = ("user",)
    readonly_fields = ("tenant",)
