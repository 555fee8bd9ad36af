"""The settings of Roger Server before 2.20, and the record of an integration leaving the legacy app.

Their tables stay the `integrations` app's (same names, same migrations): `app_label` says so, although the code
lives in this package so that it can be deleted in one move.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class LegacyUserSyncSettings(models.Model):
    """Administration > User Synchronization before integrations: Entra ID with the operator's legacy
    User Synchronization app. Its app-only token is a credential of owner "legacy_user_sync" (this row)."""

    tenant = models.OneToOneField("accounts.Tenant", on_delete=models.CASCADE, related_name="legacy_user_sync")
    enabled = models.BooleanField(default=False)
    directory_id = models.CharField(max_length=36, blank=True)
    sync_automatically = models.BooleanField(default=True)
    admin_consent_granted_at = models.DateTimeField(null=True, blank=True)
    migrated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "integrations"
        verbose_name = "legacy Entra ID User Synchronization"
        verbose_name_plural = "legacy Entra ID User Synchronization"

    def __str__(self) -> str:
        return f"Entra ID User Synchronization of {self.tenant}"


class LegacyUniversalPrintSettings(models.Model):
    """Microsoft Universal Print before integrations, with the operator's legacy app. Its app-only token is a
    credential of owner "legacy_universal_print" (this row)."""

    tenant = models.OneToOneField("accounts.Tenant", on_delete=models.CASCADE, related_name="legacy_universal_print")
    enabled = models.BooleanField(default=False)
    directory_id = models.CharField(max_length=36, blank=True)
    admin_consent_granted_at = models.DateTimeField(null=True, blank=True)
    migrated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "integrations"
        verbose_name = "legacy Microsoft Universal Print"
        verbose_name_plural = "legacy Microsoft Universal Print"

    def __str__(self) -> str:
        return f"Microsoft Universal Print of {self.tenant}"


class LegacyCloudServicesSettings(models.Model):
    """Cloud Services Settings before integrations: OneDrive and SharePoint through the operator's legacy app.

    Each user's cloud storage connection (one Microsoft sign-in covering OneDrive and SharePoint) is a
    credential of owner "legacy_cloud_storage" (this row) and that user.
    """

    tenant = models.OneToOneField("accounts.Tenant", on_delete=models.CASCADE, related_name="legacy_cloud_services")
    onedrive_enabled = models.BooleanField(default=False)
    sharepoint_enabled = models.BooleanField(default=False)
    # Blank: users of any organization (and personal accounts) connected their storage.
    directory_id = models.CharField(max_length=36, blank=True)
    admin_consent_granted_at = models.DateTimeField(null=True, blank=True)
    migrated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "integrations"
        verbose_name = "legacy Cloud Services Settings"
        verbose_name_plural = "legacy Cloud Services Settings"

    def __str__(self) -> str:
        return f"Cloud Services Settings of {self.tenant}"

    @property
    def enabled(self) -> bool:
        return self.onedrive_enabled or self.sharepoint_enabled


class LegacySwitch(models.Model):
    """An integration left the legacy app: what was deleted and who must reconnect (shown to the admin)."""

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="legacy_switches"
    )
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    new_application_id = models.CharField(max_length=36)
    tokens_deleted = models.PositiveIntegerField(default=0)
    consents_reset = models.JSONField(default=list, help_text="The features whose stored consent was deleted.")
    affected_users = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="+", blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "integrations"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.integration} left the legacy app on {self.created_at:%Y-%m-%d}"
