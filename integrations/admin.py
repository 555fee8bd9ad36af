"""Django admin for the operator: integrations, their apps and features, and the sign-in/consent flows."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from integrations.errors import IntegrationError
from integrations.models import (
    AppRegistration,
    AuthorizationFlow,
    Feature,
    Integration,
    ReapplyRun,
)
from integrations.services.reapply import integration_consents_recheck


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
    list_display = ("name", "tenant", "setup_mode", "directory_id", "directory_proof", "is_legacy", "created_at")
    list_filter = ("setup_mode", "directory_proof", "is_legacy", "tenant")
    search_fields = ("name", "directory_id", "directory_domain", "tenant__name")
    # The proof is recorded only by an administrator's sign-in (or the upgrade), never typed in.
    readonly_fields = (
        "directory_proof",
        "proven_directory_id",
        "directory_proven_at",
        "directory_proven_by",
        "directory_proven_role",
        "created_at",
        "updated_at",
    )
    inlines = [AppRegistrationInline, FeatureInline]
    actions = ["reapply_consents"]

    @admin.action(description="Reapply consents (re-acquire app tokens, retry users' tokens)")
    def reapply_consents(self, request: HttpRequest, queryset: QuerySet[Integration]) -> None:
        # The operator cannot consent for a customer's directory: what can be proven without a browser is.
        for integration in queryset.select_related("tenant"):
            try:
                results = integration_consents_recheck(integration=integration, actor=operator_of(request))
            except IntegrationError as exc:
                self.message_user(request, f"{integration}: {exc.message}", messages.WARNING)
                continue
            for result in results:
                level = messages.SUCCESS if result.ok else messages.ERROR
                self.message_user(request, f"{integration} / {result.feature}: {result.message}", level)


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


# Secrets until spent (PKCE verifier, Microsoft's answer with its code) and what binds a flow to a browser.
FLOW_SECRETS = ("msal_flow", "state", "answer", "browser_key_hash", "answer_key_hash")


@admin.register(AuthorizationFlow)
class AuthorizationFlowAdmin(admin.ModelAdmin):
    list_display = ("__str__", "tenant", "admin", "kind", "status", "created_at", "expires_at")
    list_filter = ("kind", "status")
    exclude = FLOW_SECRETS
    readonly_fields = [f.name for f in AuthorizationFlow._meta.fields if f.name not in (*FLOW_SECRETS, "id")]


def operator_of(request: HttpRequest) -> Any:
    return request.user if request.user.is_authenticated else None


@admin.register(ReapplyRun)
class ReapplyRunAdmin(admin.ModelAdmin):
    list_display = ("__str__", "tenant", "admin", "created_at", "finished_at", "stopped")
    list_filter = ("stopped",)
    readonly_fields = [f.name for f in ReapplyRun._meta.fields if f.name != "id"]
