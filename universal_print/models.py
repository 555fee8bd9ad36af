"""Universal Print in Roger: the connection to a directory's Universal Print, its printers, the jobs received.

Microsoft's model (see microsoft.universal_print): the feature's app owns one task definition in the directory; a
Printer Administrator signed in to the same app puts a `jobStarted` trigger on each printer whose jobs Roger takes;
every job then sent to such a printer waits in a task until Roger completes (or aborts) it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from background.models import Claimable
from ui.fields import StatusField
from universal_print.choices import JobOutcome, PollStatus, PrinterState, SignInStatus, TaskStatus


class Connection(Claimable):
    """Roger's Universal Print in one Microsoft directory, through one app: the task definition that app made
    there, the printers Roger knows, and the look at the pending tasks (background work, due every minute while
    the feature is enabled).

    The connection outlives its feature: when the integration is deleted or the feature moves to another app,
    `feature` becomes empty and the printers' task triggers are still known, so the admin can be told that jobs
    sent to them wait in Universal Print; the same app's feature enabled again takes the connection back.
    """

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    directory_id = models.CharField("directory (tenant) id", max_length=36)
    client_id = models.CharField("application (client) id", max_length=36)
    feature = models.ForeignKey(
        "integrations.Feature", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    definition_id = models.CharField("task definition id", max_length=100, blank=True)
    definition_created_at = models.DateTimeField(null=True, blank=True)
    last_poll_at = models.DateTimeField(null=True, blank=True)
    poll_status = StatusField(max_length=20, choices=PollStatus, default=PollStatus.NEVER)
    poll_error = models.TextField(blank=True)
    failing_since = models.DateTimeField(null=True, blank=True, help_text="Failing (or throttled) since then.")
    throttled_until = models.DateTimeField(
        null=True, blank=True, help_text="Microsoft answered 429/503 with Retry-After: no call before then."
    )
    printers_listed_at = models.DateTimeField(null=True, blank=True)
    printers_listed_by = models.CharField(max_length=320, blank=True)
    printers_checked_at = models.DateTimeField(null=True, blank=True, help_text="The daily app-only look.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "directory_id", "client_id"], name="universal_print_connection_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"Universal Print in {self.directory_id}"


class Printer(models.Model):
    """A Universal Print printer of the connection's directory, as last listed, and the admin's choice for it."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="printers")
    printer_id = models.CharField(max_length=100)
    name = models.CharField(max_length=255)
    location = models.CharField(max_length=500, blank=True)
    manufacturer = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=200, blank=True)
    # What users see in Windows: the printer's shares.
    share_names = models.JSONField(default=list, blank=True)
    has_physical_device = models.BooleanField(default=False)
    is_accepting_jobs = models.BooleanField(default=True)
    # The admin's choice: its jobs go to Roger (into `queue`). Applied when a Printer Administrator signs in.
    feeds_roger = models.BooleanField(default=False)
    queue = models.ForeignKey(
        "print_jobs.Queue", on_delete=models.SET_NULL, null=True, blank=True, related_name="universal_print_printers"
    )
    # Roger's own task trigger on the printer, as created: Roger takes its jobs while this is set.
    trigger_id = models.CharField(max_length=100, blank=True)
    trigger_created_at = models.DateTimeField(null=True, blank=True)
    # Another application's trigger holds the printer (Universal Print allows one per printer).
    held_by_app_id = models.CharField(max_length=36, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True, help_text="When Universal Print no longer had it.")
    listed_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    last_job_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "printer_id"], name="universal_print_printer_unique"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def windows_name(self) -> str:
        """The name people chose in Windows: the share's, when the printer has one share."""
        return self.share_names[0] if len(self.share_names) == 1 else self.name

    @property
    def takes_jobs(self) -> bool:
        return bool(self.trigger_id)

    @property
    def state(self) -> PrinterState:
        if self.removed_at is not None:
            return PrinterState.REMOVED
        if self.held_by_app_id and not self.trigger_id:
            return PrinterState.OTHER_APP
        if self.trigger_id:
            return PrinterState.TAKES_JOBS if self.feeds_roger else PrinterState.TURNING_OFF
        return PrinterState.TURNING_ON if self.feeds_roger else PrinterState.OFF

    @property
    def change_pending(self) -> bool:
        return self.state in (PrinterState.TURNING_ON, PrinterState.TURNING_OFF)


class ReceivedJob(Claimable):
    """A job sent to a printer Roger takes jobs from, and what Roger did with it (background work: taking it is
    claimed, so a redelivered task or a second poll never takes it twice).

    The key is Microsoft's: job ids count per printer, so a job is (directory, printer id, job id). The print job
    made of its document is keyed the same way, so a worker that died after the download and before completing
    the task makes no second print job when the job is taken again.
    """

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="jobs")
    printer = models.ForeignKey(Printer, on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs")
    # Universal Print's ids of the printer and the job (job ids count per printer).
    directory_id = models.CharField(max_length=36)
    up_printer_id = models.CharField("printer id", max_length=100)
    up_job_id = models.CharField("job id", max_length=100)
    task_id = models.CharField(max_length=100, blank=True)
    # Who printed, as Universal Print says: the object id is the key (through the identity link), the name is
    # only shown.
    creator_object_id = models.CharField(max_length=36, blank=True)
    creator_name = models.CharField(max_length=320, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    document_name = models.CharField(max_length=255, blank=True)
    outcome = StatusField(max_length=20, choices=JobOutcome, default=JobOutcome.RECEIVING)
    # Why it was aborted (what the person sees in Windows) or why Roger gave up.
    reason = models.TextField(blank=True)
    task_status = StatusField(max_length=20, choices=TaskStatus, default=TaskStatus.OPEN)
    print_job = models.ForeignKey(
        "print_jobs.PrintJob", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_error = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "directory_id", "up_printer_id", "up_job_id"], name="universal_print_job_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"Universal Print job {self.up_job_id} on {self.up_printer_id}"

    @property
    def key(self) -> str:
        return f"{self.directory_id}:{self.up_printer_id}:{self.up_job_id}"


class AdminSignIn(models.Model):
    """A Printer Administrator's sign-in to the feature's app, and the printer changes it applies in the
    background. Its delegated token is kept in the token store only until then: Roger holds no standing delegated
    power over the directory's printers."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="sign_ins")
    admin = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    account = models.CharField("Microsoft account", max_length=320, blank=True)
    status = StatusField(max_length=20, choices=SignInStatus, default=SignInStatus.QUEUED)
    results = models.JSONField(default=list, blank=True, help_text="What was done, one sentence each.")
    error = models.TextField(blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Printer Administrator sign-in of {self.account or self.admin}"

    @property
    def is_open(self) -> bool:
        return self.status in SignInStatus.open()
