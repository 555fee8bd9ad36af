"""What Administration > Users keeps besides the users themselves: invitations and imports."""

from __future__ import annotations

import uuid
from pathlib import PurePosixPath

from django.db import models
from django.utils import timezone

from background.models import Claimable
from ui.fields import StatusField
from users_admin.choices import ImportPhase, ImportStatus, RowAction


class Invitation(models.Model):
    """A link to set a first password, emailed to a user an admin added: single use, expiring. Only the token's
    SHA-256 is stored; the token itself is in the email alone."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="invitations")
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey("accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Invitation of {self.user_id}"


def user_import_path(instance: UserImport, filename: str) -> str:
    return f"user-imports/{instance.tenant_id}/{uuid.uuid4().hex}{PurePosixPath(filename).suffix.lower()[:6]}"


class UserImport(Claimable):
    """An uploaded CSV or .xlsx file of users: checked in the background (the preview, which writes no user), then
    applied in the background once an admin confirms. `rows_done` is the position of the phase under way, saved
    with each batch, so a worker that dies resumes where the last batch ended."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="user_imports")
    created_by = models.ForeignKey("accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    file = models.FileField(upload_to=user_import_path)
    file_name = models.CharField(max_length=255)
    file_format = models.CharField(max_length=4)  # csv or xlsx
    send_invitations = models.BooleanField(default=False)
    status = StatusField(max_length=10, choices=ImportStatus, default=ImportStatus.CHECKING)
    phase = models.CharField(max_length=10, choices=ImportPhase.choices, default=ImportPhase.PREVIEW)
    rows_done = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True, help_text="Rows per action of the phase under way or done.")
    preview_counts = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=500, blank=True)
    applied_by = models.ForeignKey("accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.file_name


class UserImportRow(models.Model):
    """What one row of an import file would do (preview) or did (apply), and why a refused row was refused."""

    user_import = models.ForeignKey(UserImport, on_delete=models.CASCADE, related_name="rows")
    phase = models.CharField(max_length=10, choices=ImportPhase.choices)
    number = models.PositiveIntegerField(help_text="The row in the file (the header is row 1).")
    email = models.CharField(max_length=254, blank=True)
    action = StatusField(max_length=10, choices=RowAction)
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["user_import", "phase", "number"], name="accounts_import_row_once")
        ]
        indexes = [models.Index(fields=["user_import", "phase", "action", "number"])]

    def __str__(self) -> str:
        return f"{self.number}: {self.action}"
