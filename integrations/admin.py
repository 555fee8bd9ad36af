"""Django admin for the operator: integrations, their apps and features, and the sign-in/consent flows."""

from __future__ import annotations

from django.contrib import admin

from integrations.models import AppRegistration, AuthorizationFlow, Feature, Integration


class AppRegistrationInline(admin.TabularInline):
    model = AppRegistration
    fields = ("kind", "operator_app", "customer_client_id", "secret_expires_on")
    extra = 0
    show_change_link = True


class FeatureInline(admin.TabularInline):
    model = Feature
    fields = ("feature_type", "app_registration", "enabled", "consent_state", "directory_id")
    readonly_fields = ("directory_id",)
    extra = 0
    show_change_link = True


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "setup_mode", "directory_id", "is_legacy", "created_at")
    list_filter = ("setup_mode", "is_legacy", "tenant")
    search_fields = ("name", "directory_id", "directory_domain", "tenant__name")
    readonly_fields = ("created_at", "updated_at")
    inlines = [AppRegistrationInline, FeatureInline]


@admin.register(AppRegistration)
class AppRegistrationAdmin(admin.ModelAdmin):
    list_display = ("__str__", "integration", "kind", "secret_expires_on")
    list_filter = ("kind",)
    search_fields = ("customer_client_id", "integration__name")
    # The secret is write-only here too: it can be replaced, never read back.
    exclude = ("client_secret",)
    readonly_fields = ("created_at", "updated_at")


@admin.register(Feature)
class FeatureAdmin(admin.ModelAdmin):
    list_display = ("__str__", "tenant", "feature_type", "enabled", "consent_state", "directory_id")
    list_filter = ("feature_type", "enabled", "consent_state", "tenant")
    search_fields = ("integration__name", "directory_id")
    readonly_fields = ("tenant", "directory_id", "updated_at")


@admin.register(AuthorizationFlow)
class AuthorizationFlowAdmin(admin.ModelAdmin):
    list_display = ("__str__", "tenant", "admin", "kind", "status", "created_at", "expires_at")
    list_filter = ("kind", "status")
    exclude = ("msal_flow", "state")
    readonly_fields = [f.name for f in AuthorizationFlow._meta.fields if f.name not in ("msal_flow", "state", "id")]
