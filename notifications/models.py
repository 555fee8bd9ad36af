from __future__ import annotations

from django.db import models
from django.utils import timezone


class AdminNotification(models.Model):
    """One email to a tenant's admins about one problem. The key makes "tell them once per problem" hold.

    `sent_at` is when the email went into the outgoing mail queue, in the same transaction as this row.
    """

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="admin_notifications")
    key = models.CharField(max_length=200, help_text="Identifies the problem, e.g. credential:12:needs_consent.")
    subject = models.CharField(max_length=200)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="notifications_once_per_key")]

    def __str__(self) -> str:
        return self.subject
