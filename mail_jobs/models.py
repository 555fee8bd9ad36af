"""Jobs via Email: one mailbox per Roger tenant whose mail becomes print jobs of the senders.

The mailbox's server and account are a mail_servers.MailServerAccount; the source holds what is done with its mail
(paperless-ngx's MailRule to its MailAccount): the folder, the schedule, the clean-up and the limits."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from background.models import Claimable
from mail_jobs.choices import AfterProcessing, Outcome, UnknownSenders
from mail_jobs.documents import DEFAULT_DOCUMENT_TYPES
from mail_servers.choices import ServerKind, ServerStatus
from ui.fields import StatusField


def _default_document_types() -> list[str]:
    return list(DEFAULT_DOCUMENT_TYPES)


class MailJobSource(Claimable):
    """The tenant's Jobs via Email settings.

    Polling the mailbox is background work (background.claims): the next poll is due at `next_attempt_at`, and
    a poll holds the source for its whole batch (renewing the lease per message), so two polls never overlap;
    a dead worker's poll is taken up again when its lease runs out. `attempts` counts failed polls in a row.
    """

    tenant = models.OneToOneField("accounts.Tenant", on_delete=models.CASCADE, related_name="mail_job_source")
    enabled = models.BooleanField(default=False)
    mail_server = models.OneToOneField(
        "mail_servers.MailServerAccount",
        on_delete=models.RESTRICT,
        related_name="+",
        help_text="The mailbox's server and account (IMAP or POP3); its status is what the last poll showed.",
    )
    folder = models.CharField(max_length=200, default="INBOX")
    poll_interval_minutes = models.PositiveSmallIntegerField(default=5)
    after_processing = models.CharField(max_length=10, choices=AfterProcessing.choices, default=AfterProcessing.DELETE)
    move_to_folder = models.CharField(max_length=200, blank=True, default="Printed")
    max_message_size_mb = models.PositiveSmallIntegerField(default=25)
    document_types = models.JSONField(default=_default_document_types)
    print_body = models.BooleanField(default=False)
    unknown_senders = models.CharField(max_length=10, choices=UnknownSenders.choices, default=UnknownSenders.REJECT)
    reply_on_rejection = models.BooleanField(default=True)
    exchange_authenticated_only = models.BooleanField(
        default=False,
        help_text="Exchange Online sources: print only mail that Exchange authenticated (DMARC or composite "
        "authentication passed, or sent from inside the organisation).",
    )

    last_poll_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Jobs via Email source"

    def __str__(self) -> str:
        return f"Jobs via Email of {self.tenant}"

    @property
    def max_message_bytes(self) -> int:
        return self.max_message_size_mb * 1024 * 1024

    @property
    def is_paused(self) -> bool:
        return self.mail_server.status == ServerStatus.NEEDS_ACTION

    @property
    def requires_exchange_authentication(self) -> bool:
        return self.exchange_authenticated_only and self.mail_server.kind == ServerKind.EXCHANGE


class ProcessedMessage(models.Model):
    """A message the poller handled: what it printed or why it refused. Unique per source and message key, so a
    message still in the mailbox after a crash is recognised and only its clean-up is redone. The key names the
    server, account and folder as well as the message, so mail of a mailbox or folder read later is never taken
    for mail already processed elsewhere."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    source = models.ForeignKey(MailJobSource, on_delete=models.CASCADE, related_name="processed")
    message_key = models.CharField(
        max_length=1000,
        help_text='"imap://<user>@<host>:<port>/<folder>;UIDVALIDITY=<n>/;UID=<n>" or '
        '"pop://<user>@<host>:<port>/;UIDL=<uidl>"',
    )
    sender = models.CharField(max_length=320, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    owner = models.ForeignKey("accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    outcome = StatusField(max_length=10, choices=Outcome)
    jobs_created = models.PositiveIntegerField(default=0)
    reasons = models.JSONField(default=list, blank=True, help_text="Why something was refused, one line each.")
    replied = models.BooleanField(default=False)
    processed_at = models.DateTimeField(default=timezone.now, db_index=True)
    cleaned_up_at = models.DateTimeField(null=True, blank=True, help_text="When it was deleted, moved or marked.")

    class Meta:
        ordering = ["-processed_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "message_key"], name="mail_jobs_unique_message_per_source"),
        ]

    def __str__(self) -> str:
        return f"{self.sender}: {self.subject}"
