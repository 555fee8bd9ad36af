"""Heartbeats: workers (per queue) and beat write when they last ran, so /healthz can tell without the broker."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Heartbeat(models.Model):
    """The last sign of life of one process role: `beat`, or `queue:<name>` for a worker serving that queue.

    Rows in the database rather than broker events: they also work on the demo's serverless broker, and they
    tell a queue nobody consumes from (a worker that answers but does not serve it) from a healthy one.
    """

    name = models.CharField(max_length=100, unique=True)
    seen_at = models.DateTimeField(default=timezone.now)
    host = models.CharField(max_length=255, blank=True, help_text="The node that wrote it last (worker name).")

    class Meta:
        ordering = ["name"]
        verbose_name = "heartbeat"
        verbose_name_plural = "health and queues"  # the operator's page (operations.admin)

    def __str__(self) -> str:
        return f"{self.name} at {self.seen_at:%Y-%m-%d %H:%M:%S}"
