"""Print jobs: what mail, Universal Print and OneDrive deliver to the print service."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from print_jobs.choices import JobSource, JobStatus
from ui.fields import StatusField


def document_path(job: PrintJob, filename: str) -> str:
    return f"jobs/{job.tenant_id}/{timezone.now():%Y/%m}/{filename}"


class Queue(models.Model):
    """A Roger print queue: where jobs wait until their owner releases them at a device. Sources feed it (a
    Universal Print printer names the queue its jobs go to)."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="print_queues")
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "tenant", name="print_jobs_queue_name_unique_per_tenant"),
        ]

    def __str__(self) -> str:
        return self.name


class PrintJob(models.Model):
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="print_jobs")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="print_jobs")
    source = models.CharField(max_length=20, choices=JobSource.choices)
    # The source's own id, so a redelivered item never makes a second job: for mail
    # "<mail source id>:<digest of the message's URL>:<part>" (older jobs: "<mail source id>:<UIDVALIDITY>:<UID>:<part>"
    # or "<mail source id>:<UIDL>:<part>"), Universal Print its job id.
    source_key = models.CharField(max_length=255)
    # Where the job came from as its owner named it, shown beside the source: for Universal Print the printer
    # chosen in Windows.
    source_label = models.CharField(max_length=255, blank=True)
    queue = models.ForeignKey(Queue, on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs")
    title = models.CharField(max_length=255)
    document = models.FileField(upload_to=document_path)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=100)
    status = StatusField(max_length=10, choices=JobStatus, default=JobStatus.READY)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    printed_at = models.DateTimeField(null=True, blank=True)
    # What the delivering feature did or reports about this job (OneDrive: "Moved to /Printed"), shown on the job.
    source_note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        # The Jobs page of a tenant: its newest jobs, then older than the last one shown (ui.pagination).
        indexes = [models.Index(fields=["tenant", "-received_at", "-id"], name="print_jobs_tenant_newest")]
        constraints = [
            models.UniqueConstraint(fields=["source", "source_key"], name="print_jobs_unique_source_key"),
        ]

    def __str__(self) -> str:
        return self.title
