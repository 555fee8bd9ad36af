"""Who may sign in with Microsoft in a Roger tenant, beyond the users it already has (linked or synced)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class LoginSettings(models.Model):
    """A tenant's rules for Login with Microsoft. Without a row: nobody registers, no personal accounts.

    Registration (the vendor's "Allow users to register to the system") creates a plain user for an unknown person
    of the integration's directory. An integration without a directory accepts any organisation's linked users; then
    registration also needs the person's directory on `registration_directory_ids`, and personal Microsoft accounts
    need `allow_personal_accounts`: no single setting lets any Microsoft account in the world become a user.
    """

    tenant = models.OneToOneField("accounts.Tenant", on_delete=models.CASCADE, related_name="login_settings")
    allow_registration = models.BooleanField(default=False)
    registration_directory_ids = models.JSONField(default=list, blank=True)
    allow_personal_accounts = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "login settings"

    def __str__(self) -> str:
        return f"Login with Microsoft settings of {self.tenant}"
