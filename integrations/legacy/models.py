"""The settings of Roger Server before 2.20, and the record of an integration leaving the legacy app.

Their tables stay the `integrations` app's (same names, same migrations): `app_label` says so, although the code
lives in this package so that it can be deleted in one move.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from accounts.models import Tenant


class LegacySettingsRow(models.Model):
    """What each Microsoft setting of that time held besides its switches: one row per tenant, the directory, when
    its admin consent was granted, and when it was migrated into an integration."""

    area: ClassVar[str]  # what the admin knew it as

    directory_id = models.CharField(max_length=36, blank=True)
    admin_consent_granted_at = models.DateTimeField(null=True, blank=True)
    migrated_at = models.DateTimeField(null=True, blank=True)

    # Declared by each (related names of their own): the Roger tenant.
    tenant: models.OneToOneField[Tenant, Tenant]

    class Meta:
        abstract = True
        app_label = "integrations"

    def __str__(self) -> str:
        return f"{self.area} of {self.tenant}"


class LegacyUserSyncSettings(LegacySettingsRow):
    """Administration > User Synchronization before integrations: Entra ID with the operator's legacy
    User Synchronization app. Its app-only token is a credential of owner "legacy_user_sync" (this row)."""

    area = "Entra ID User Synchronization"

    tenant = models.OneToOneField("accounts.Tenant", on_delete=models.CASCADE, related_name="legacy_user_sync")
    enabled = models.BooleanField(default=False)
    sync_automatically = models.BooleanField(default=True)

    class Meta(LegacySettingsRow.Meta):
        verbose_name = "legacy Entra ID User Synchronization"
        verbose_name_plural = "legacy Entra ID User Synchronization"


class LegacyUniversalPrintSettings(LegacySettingsRow):
    """Microsoft Universal Print before integrations, with the operator's legacy app. Its app-only token is a
    credential of owner "legacy_universal_print" (this row)."""

    area = "Microsoft Universal Print"

    tenant = models.OneToOneField("accounts.Tenant", on_delete=models.CASCADE, related_name="legacy_universal_print")
    enabled = models.BooleanField(default=False)

    class Meta(LegacySettingsRow.Meta):
        verbose_name = "legacy Microsoft Universal Print"
        verbose_name_plural = "legacy Microsoft Universal Print"


class LegacyCloudServicesSettings(LegacySettingsRow):
    """Cloud Services Settings before integrations: OneDrive and SharePoint through the operator's legacy app.

    Each user's cloud storage connection (one Microsoft sign-in covering OneDrive and SharePoint) is a
    credential of owner "legacy_cloud_storage" (this row) and that user. A blank directory: users of any
    organization (and personal accounts) connected their storage.
    """

    area = "Cloud Services Settings"

    tenant = models.OneToOneField("accounts.Tenant", on_delete=models.CASCADE, related_name="legacy_cloud_services")
    onedrive_enabled = models.BooleanField(default=False)
    sharepoint_enabled = models.BooleanField(default=False)

    class Meta(LegacySettingsRow.Meta):
        verbose_name = "legacy Cloud Services Settings"
        verbose_name_plural = "legacy Cloud Services Settings"

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
