"""The fields every row of background work carries (an abstract model: each kind keeps its own table)."""

from __future__ import annotations

from django.db import models


class Claimable(models.Model):
    """A row that background workers claim one at a time (see background.claims).

    `next_attempt_at` says when the work is due (empty: nothing to do); a worker that claims the row holds
    it until `lease_until`, so nobody else starts the same work meanwhile; a worker that dies lets the lease
    run out and the sweep queues the work again.
    """

    next_attempt_at = models.DateTimeField(
        "next attempt", null=True, blank=True, help_text="When the work is due next; empty: nothing to do."
    )
    attempts = models.PositiveIntegerField(default=0, help_text="Failed attempts in a row (for the backoff).")
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker holds the work until then; after it, the sweep takes it back."
    )
    lease_token = models.CharField(max_length=32, blank=True, editable=False, help_text="The claim that holds it.")

    class Meta:
        abstract = True
