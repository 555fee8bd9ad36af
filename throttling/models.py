"""The recent events (attempts, failed sign-ins) of one throttle key, shared by every process."""

from __future__ import annotations

from django.db import models


class ThrottleWindow(models.Model):
    """Recent events of one key, e.g. `password_reset:client:203.0.113.9`, `sign_in:account:tenant/alpha/bob@x.com`
    or `outgoing_mail:mailbox:exchange:printing@contoso.com`.

    A row, not a cache entry: every web process on every host counts the same events (PostgreSQL, and the demo's
    SQLite), and it is changed only under a lock (`throttling.services`), so parallel requests cannot slip past
    a limit. Deleting a row lifts its limit at once (Django admin).
    """

    key = models.CharField(max_length=500, unique=True)
    hits = models.JSONField(default=list, help_text="Epoch seconds of the events that still count, oldest first.")
    expires_at = models.DateTimeField(db_index=True, help_text="When the newest event stops counting.")

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key
