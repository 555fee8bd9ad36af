"""Print jobs: what mail, Universal Print and OneDrive deliver to the print service."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from print_jobs.choices import JobSource, JobStatus
from ui.fields import StatusField


def document_path(job: PrintJob, filename: str) -> str:
    return f"jobs/{job.tenant_id}/{timezone.now():%Y/%m}/{filename}"


class PrintJob(models.Model):
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="print_jobs")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="print_jobs")
    source = models.CharField(max_length=20, choices=JobSource.choices)
    # The source's own id, so a redelivered item never makes a second job: for mail
    # "<mail source id>:<digest of the message's URL>:<part>" (older jobs: "<mail source id>:<UIDVALIDITY>:<UID>:<part>"
    # or "<mail source id>:<UIDL>:<part>"), Universal Print its job id.
    source_key = models.CharField(max_length=255)
    title = models.CharField(max_length=255)
    document = models.FileField(upload_to=document_path)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=100)
    status = StatusField(max_length=10, choices=JobStatus, default=JobStatus.READY)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "source_key"], name="print_jobs_unique_source_key"),
        ]

    def __str__(self) -> str:
        return self.title
