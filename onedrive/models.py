"""OneDrive for people: their preferences, files they print from OneDrive, and scans delivered to it.

The connection itself (the user's delegated token) is in the token store, owned by the tenant's OneDrive feature
and bound to the user (integrations.services.cloud_services connects it).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from fernet_fields import EncryptedTextField

from background.models import Claimable
from onedrive.choices import PrintedAction, PrintStage, PrintStatus, ScanOrigin, ScanStatus
from ui.fields import StatusField

DEFAULT_SCAN_FOLDER = "/Scans"
PRINTED_FOLDER = "/Printed"


class OneDrivePreference(models.Model):
    """A user's OneDrive preferences (My Settings > Cloud Services)."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="onedrive_preference")
    printed_action = models.CharField(
        "printed job", max_length=10, choices=PrintedAction.choices, default=PrintedAction.LEAVE
    )
    scan_folder = models.CharField(max_length=400, default=DEFAULT_SCAN_FOLDER)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"OneDrive preferences of {self.user}"


class OneDrivePrint(Claimable):
    """One file of a Print from OneDrive request: fetched into a print job of its user, then, once printed,
    tidied in OneDrive by the user's Printed Job preference. Background work in two stages (`stage`)."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="onedrive_prints")
    feature = models.ForeignKey("integrations.Feature", on_delete=models.CASCADE, related_name="+")
    request_key = models.UUIDField(default=uuid.uuid4, help_text="One per print request: the job's own key.")
    item_id = models.CharField(max_length=200)
    item_name = models.CharField(max_length=255)
    item_folder = models.CharField(max_length=1000, blank=True)
    item_etag = models.CharField(max_length=200, blank=True, help_text="The version printed.")
    job = models.OneToOneField(
        "print_jobs.PrintJob", on_delete=models.SET_NULL, null=True, blank=True, related_name="onedrive_print"
    )
    stage = models.CharField(max_length=10, choices=PrintStage.choices, default=PrintStage.FETCH)
    status = StatusField(max_length=20, choices=PrintStatus, default=PrintStatus.FETCHING)
    action = models.CharField(max_length=10, choices=PrintedAction.choices, blank=True)
    result = models.CharField(max_length=300, blank=True, help_text="What happened, or why it failed.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["request_key", "item_id"], name="onedrive_print_once_per_request"),
        ]
        indexes = [models.Index(fields=["next_attempt_at"])]

    def __str__(self) -> str:
        return self.item_name

    @property
    def can_retry(self) -> bool:
        """The Jobs page offers Try again, and `print_retry` takes it."""
        return self.status in PrintStatus.stopped()

    @property
    def source_key(self) -> str:
        return f"{self.request_key}:{self.item_id}"


def scan_path(delivery: ScanDelivery, filename: str) -> str:
    return f"scans/{delivery.tenant_id}/{timezone.now():%Y/%m}/{uuid.uuid4().hex}"


class ScanDelivery(Claimable):
    """A scanned document on its way to the user's OneDrive scan folder. The file waits here until it is
    delivered; the upload session (its URL is a credential) is kept encrypted so that an upload interrupted at
    any point resumes, or finds the finished file, instead of uploading it twice."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="scan_deliveries")
    feature = models.ForeignKey("integrations.Feature", on_delete=models.CASCADE, related_name="+")
    origin = models.CharField(max_length=10, choices=ScanOrigin.choices, default=ScanOrigin.UPLOAD)
    name = models.CharField(max_length=255, help_text="The file name asked for (OneDrive may rename it).")
    folder = models.CharField(max_length=400, help_text="The scan folder when the scan arrived.")
    document = models.FileField(upload_to=scan_path, blank=True)
    size = models.PositiveBigIntegerField()
    status = StatusField(max_length=20, choices=ScanStatus, default=ScanStatus.QUEUED)
    upload_session = EncryptedTextField(blank=True, default="")
    delivered_name = models.CharField(max_length=255, blank=True)
    delivered_item_id = models.CharField(max_length=200, blank=True)
    result = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "scan deliveries"
        indexes = [models.Index(fields=["next_attempt_at"])]

    def __str__(self) -> str:
        return self.name

    @property
    def can_retry(self) -> bool:
        """The Jobs page offers Try again, and `scan_retry` takes it (while the scanned file is still here)."""
        return self.status in ScanStatus.stopped() and bool(self.document)
