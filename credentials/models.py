"""The token store: every Microsoft credential of the portal, one row per owner (and user)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from fernet_fields import EncryptedTextField

from background.models import Claimable
from credentials.choices import CredentialKind, CredentialState
from ui.fields import StatusField


class MicrosoftCredential(Claimable):
    """A Microsoft token bound to one owner, one Microsoft directory and one app.

    `token_cache` is the serialized MSAL cache (refresh and access tokens), encrypted at rest; it is
    never shown or logged. The rotated refresh token is saved in the same transaction as `state`.
    `next_attempt_at` is when the background refresh is due: a retry, a requested refresh, or the weekly
    exercise of an idle refresh token (none for app-only tokens and for credentials waiting for a person).
    """

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="microsoft_credentials")
    owner_type = models.CharField(max_length=50, help_text="Registered owner type, e.g. external_system.")
    owner_id = models.PositiveBigIntegerField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="microsoft_credentials",
        help_text="Set for per-user delegated tokens (OneDrive).",
    )
    kind = models.CharField(max_length=30, choices=CredentialKind.choices)
    directory_id = models.CharField("directory (tenant) id", max_length=36)
    client_id = models.CharField("application (client) id", max_length=36)
    scopes = models.JSONField(default=list, help_text="The scopes requested.")
    granted_scopes = models.JSONField(default=list, blank=True, help_text="The scopes Microsoft granted.")
    account_home_id = models.CharField(max_length=200, blank=True)
    account_username = models.CharField(max_length=320, blank=True)
    token_cache = EncryptedTextField(blank=True, default="")
    access_token_expires_at = models.DateTimeField("access token expires", null=True, blank=True)
    refresh_token_used_at = models.DateTimeField(
        "refresh token last used",
        null=True,
        blank=True,
        help_text="When the refresh token was last exercised (Microsoft expires it after 90 idle days).",
    )
    refreshed_at = models.DateTimeField(null=True, blank=True, help_text="When a token last came from Microsoft.")
    state = StatusField(max_length=20, choices=CredentialState, default=CredentialState.ACTIVE)
    state_reason = models.TextField(blank=True, help_text="What went wrong and how to fix it.")
    last_error_code = models.PositiveIntegerField("last AADSTS code", null=True, blank=True)
    retrying_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    connected_at = models.DateTimeField(
        default=timezone.now, help_text="When the sign-in in use was made: the first connection or the last reconnect."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant", "owner_type", "owner_id"]
        constraints = [
            # Two partial constraints rather than one with nulls_distinct=False, which SQLite (the demo) lacks.
            models.UniqueConstraint(
                fields=["owner_type", "owner_id", "user"],
                condition=models.Q(user__isnull=False),
                name="credentials_one_per_owner_and_user",
            ),
            models.UniqueConstraint(
                fields=["owner_type", "owner_id"],
                condition=models.Q(user__isnull=True),
                name="credentials_one_per_owner",
            ),
        ]
        indexes = [models.Index(fields=["next_attempt_at"])]

    def __str__(self) -> str:
        who = self.account_username or self.client_id
        return f"{self.owner_type} #{self.owner_id} ({who})"

    @property
    def is_delegated(self) -> bool:
        return self.kind != CredentialKind.APP_ONLY
