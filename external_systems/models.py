"""External systems of a Roger tenant (Exchange Online first) and their device code connections."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from fernet_fields import EncryptedTextField

from background.models import Claimable
from external_systems.choices import ACTIVE_CONNECTION_STATUSES, ConnectionStatus, SystemStatus
from ui.fields import StatusField


class ExternalSystem(models.Model):
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="external_systems")
    system_type = models.CharField(max_length=50, help_text="A key of external_systems.types, e.g. exchange_online.")
    title = models.CharField(max_length=100)
    client_id = models.CharField("Client ID", max_length=36, help_text="The app registration's Application ID.")
    directory_input = models.CharField(
        "Tenant ID", max_length=255, help_text="As the admin entered it: a directory GUID or one of its domains."
    )
    directory_id = models.CharField(
        "Directory GUID", max_length=36, blank=True, help_text="The directory GUID, resolved from the domain."
    )
    mailbox = models.CharField(max_length=320, blank=True, help_text="The mailbox that signed in (its UPN).")
    status = StatusField(max_length=20, choices=SystemStatus, default=SystemStatus.NOT_CONNECTED)
    connected_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "id"]
        constraints = [
            models.UniqueConstraint("tenant", Lower("title"), name="external_system_title_unique_per_tenant"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_connected(self) -> bool:
        return self.status == SystemStatus.CONNECTED


class DeviceCodeConnection(Claimable):
    """One device code sign-in for a system, from "Contacting Microsoft" to its outcome.

    The Celery poller and the pop-up share this row. Each step (asking for the code, one poll) is background
    work (background.claims): it is due at `next_attempt_at` (when Microsoft allows the next poll) and a
    worker claims the row for the step, so no second worker polls while one call is in flight. `attempts`
    counts the failed tries to get a code.
    """

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    system = models.ForeignKey(ExternalSystem, on_delete=models.CASCADE, related_name="connections")
    status = StatusField(max_length=20, choices=ConnectionStatus, default=ConnectionStatus.STARTING)
    user_code = models.CharField(max_length=32, blank=True)
    verification_uri = models.URLField(max_length=500, blank=True)
    flow = EncryptedTextField(blank=True, default="", help_text="The MSAL device flow (holds the device code).")
    interval = models.PositiveIntegerField(default=5, help_text="Seconds between polls, as Microsoft asks.")
    expires_at = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    signed_in_mailbox = models.CharField(max_length=320, blank=True)
    held_grant = EncryptedTextField(
        blank=True, default="", help_text="A sign-in of another mailbox, kept until the admin decides to switch."
    )
    error_code = models.IntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True, help_text="What went wrong and how to fix it.")
    code_emailed_to = models.EmailField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["system"],
                condition=models.Q(status__in=ACTIVE_CONNECTION_STATUSES),
                name="one_active_connection_per_system",
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.system} connection {self.pk} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_CONNECTION_STATUSES

    @property
    def is_waiting(self) -> bool:
        return self.status in (ConnectionStatus.STARTING, ConnectionStatus.PENDING)

    @property
    def popup_version(self) -> str:
        """Changes whenever the pop-up would look different, so its poll can answer "no change" cheaply."""
        return f"{self.status}-{int(bool(self.error_message))}-{self.code_emailed_to}"
