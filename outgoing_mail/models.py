"""Outgoing mail: a tenant's SMTP server choice, the queue of messages the portal sends, the send windows."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from fernet_fields import EncryptedTextField

from background.models import Claimable
from outgoing_mail.choices import FailureKind, OutboundPurpose, OutboundStatus, OutgoingMode
from ui.fields import StatusField


class OutgoingMailSettings(models.Model):
    """Settings > Network > Outgoing SMTP server: how the portal sends a tenant's mail.

    The tenant's SMTP server and account are a mail_servers.MailServerAccount, kept while Roger's own server is
    chosen so that choosing the tenant's again finds it as it was."""

    tenant = models.OneToOneField("accounts.Tenant", on_delete=models.CASCADE, related_name="outgoing_mail")
    use_own_server = models.BooleanField(
        default=False, help_text="Send through the tenant's server below; otherwise through Roger's."
    )
    mail_server = models.OneToOneField(
        "mail_servers.MailServerAccount",
        on_delete=models.RESTRICT,
        related_name="+",
        help_text="The tenant's SMTP server (Exchange Online or another); its status is what the last send showed.",
    )
    from_address = models.EmailField(blank=True, help_text="Custom server: the sender address.")
    from_name = models.CharField(max_length=200, blank=True, help_text="The display name of the sender.")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = "outgoing mail settings"
        verbose_name_plural = "outgoing mail settings"

    def __str__(self) -> str:
        return f"{self.tenant}: {OutgoingMode(self.mode).label}"

    @property
    def mode(self) -> str:
        return self.mail_server.kind if self.use_own_server else OutgoingMode.DEFAULT


class OutboundEmail(Claimable):
    """One message the portal sends, queued and delivered by Celery. The content is encrypted at rest
    (password reset links are secrets).

    The queue is an outbox: a message is stored in the transaction of the change it tells about, and each
    delivery is background work (background.claims), so a message whose task was lost is sent by the sweep.
    """

    tenant = models.ForeignKey(
        "accounts.Tenant",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="outbound_emails",
        help_text="Empty: mail of no tenant, sent through the operator's default server.",
    )
    purpose = models.CharField(max_length=10, choices=OutboundPurpose.choices, default=OutboundPurpose.MAIL)
    subject = models.CharField(max_length=300, blank=True)
    from_email = models.CharField(max_length=400)
    recipients = models.JSONField(default=list)
    message = EncryptedTextField(help_text="The RFC 5322 message, base64.")
    status = StatusField(max_length=10, choices=OutboundStatus, default=OutboundStatus.QUEUED)
    waiting_for_limit = models.BooleanField(
        default=False, help_text="Held back by the per-mailbox sending limit, not by an error."
    )
    sent_via = models.CharField(max_length=400, blank=True, help_text="Server and mailbox it was sent through.")
    sending_mailbox = models.CharField(max_length=320, blank=True, help_text="The mailbox or user name it signs in as.")
    sent_at = models.DateTimeField(null=True, blank=True)
    failure_kind = models.CharField(max_length=30, choices=FailureKind.choices, blank=True)
    last_error = models.TextField(blank=True, help_text="What went wrong and how to fix it.")
    server_reply = models.CharField(max_length=300, blank=True)
    fix_url = models.CharField(max_length=300, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["tenant", "purpose", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.subject or '(no subject)'} → {', '.join(self.recipients)[:100]}"

    @property
    def is_pending(self) -> bool:
        return self.status in (OutboundStatus.QUEUED, OutboundStatus.SENDING)

    @property
    def is_test(self) -> bool:
        return self.purpose == OutboundPurpose.TEST
