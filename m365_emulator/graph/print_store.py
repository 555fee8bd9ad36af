"""Universal Print's data behind the emulator's Graph: printers, shares, task definitions, triggers, jobs, tasks.

One ``TenantPrint`` per directory, built from the seed's ``printers`` (and rebuilt on reset). The print workflow
with a task trigger, as Microsoft describes pull printing:

1. An app creates a task definition (app-only); its ``createdBy.appId`` is the token's app.
2. A Printer Administrator, signed in to the same app, creates a ``jobStarted`` trigger on a printer (one per
   printer) that points at the definition.
3. A job submitted to that printer is held (``paused``, details ``releaseWait``) and a task of the definition is
   created in ``processing``, its ``parentUrl`` naming the job.
4. The app completes the task (the job is released: ``completed`` on a printer without a device, ``processing``
   and fetchable on one with a device, which would print it) or aborts it (the job is ``aborted`` with the
   task's description). A task nobody completes leaves the job held.

Without a trigger a job is ``pending`` and fetchable, waiting for the printer.

References:
- Pull printing: https://learn.microsoft.com/graph/universal-print-concept-overview#enable-pull-printing
- printJob, printJobStatus: https://learn.microsoft.com/graph/api/resources/printjob,
  https://learn.microsoft.com/graph/api/resources/printjobstatus
- printTask, printTaskStatus: https://learn.microsoft.com/graph/api/resources/printtask,
  https://learn.microsoft.com/graph/api/resources/printtaskstatus
- printTaskTrigger (one per printer): https://learn.microsoft.com/graph/api/printer-post-tasktriggers
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from m365_emulator.graph.base import state_extension
from m365_emulator.seed import SeedPrinter, User
from m365_emulator.state import State

JOB_STARTED = "jobStarted"
# How long a document's pre-authenticated download URL works (Microsoft does not say; it is short-lived).
DOWNLOAD_LIFETIME = 600

# printJobProcessingState and printTaskProcessingState values the emulator uses.
JOB_PENDING, JOB_PROCESSING, JOB_PAUSED = "pending", "processing", "paused"
JOB_COMPLETED, JOB_ABORTED = "completed", "aborted"
TASK_PROCESSING, TASK_COMPLETED, TASK_ABORTED = "processing", "completed", "aborted"
TASK_FINAL_STATES = frozenset({TASK_COMPLETED, TASK_ABORTED})

JOB_DESCRIPTIONS = {
    JOB_PENDING: "The print job is pending processing by the printer.",
    JOB_PROCESSING: "The print job is currently being processed by the printer.",
    JOB_PAUSED: "The print job has been paused.",
    JOB_COMPLETED: "The print job has completed successfully and no further processing will take place.",
    JOB_ABORTED: "The print job has been aborted by a user or the printer and no further processing will take place.",
}
TASK_DESCRIPTIONS = {
    TASK_PROCESSING: "The task is being processed.",
    TASK_COMPLETED: "Task execution is completed.",
    TASK_ABORTED: "Task execution was aborted.",
}


class PrintError(ValueError):
    """A control-API request that cannot be applied (unknown printer or user, bad value)."""


def iso(epoch: float) -> str:
    """Universal Print's timestamps: ``2020-02-04T00:00:00.0000000Z``."""
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


@dataclass
class Printer:
    id: str
    directory: str
    display_name: str
    manufacturer: str | None
    model: str | None
    location: dict[str, Any]
    has_physical_device: bool
    is_accepting_jobs: bool
    registered: str
    next_job_number: int = 1


@dataclass
class Share:
    id: str
    printer_id: str
    display_name: str
    created: str
    allow_all_users: bool = True


@dataclass
class TaskDefinition:
    id: str
    display_name: str
    app_id: str
    app_display_name: str | None


@dataclass
class TaskTrigger:
    id: str
    printer_id: str
    definition_id: str
    event: str = JOB_STARTED


@dataclass
class Document:
    id: str
    display_name: str
    content_type: str
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class Creator:
    """A job's ``createdBy`` (userIdentity): who printed it."""

    id: str
    user_principal_name: str
    display_name: str


@dataclass
class Job:
    id: str
    printer_id: str
    share_id: str | None
    created_by: Creator
    created: str
    configuration: dict[str, Any]
    documents: list[Document]
    state: str
    description: str
    details: list[str]
    fetchable: bool


@dataclass
class Task:
    id: str
    definition_id: str
    trigger_id: str
    printer_id: str
    job_id: str
    state: str
    description: str
    created_at: float


@dataclass
class Download:
    id: str
    secret: str = field(repr=False)
    printer_id: str
    job_id: str
    document_id: str
    expires_at: float
    tenant_id: str


class TenantPrint:
    """One directory's Universal Print objects."""

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self.printers: dict[str, Printer] = {}
        self.shares: dict[str, Share] = {}
        self.definitions: dict[str, TaskDefinition] = {}
        self.triggers: dict[str, TaskTrigger] = {}
        self.jobs: dict[tuple[str, str], Job] = {}  # (printer id, job id): job ids count per printer
        self.tasks: dict[str, Task] = {}

    def printer(self, reference: str) -> Printer | None:
        """By id, or (control API) by display name or the display name of one of its shares."""
        lowered = reference.strip().lower()
        found = self.printers.get(lowered)
        if found is not None:
            return found
        for printer in self.printers.values():
            if printer.display_name.lower() == lowered:
                return printer
        for share in self.shares.values():
            if share.display_name.lower() == lowered or share.id == lowered:
                return self.printers.get(share.printer_id)
        return None

    def shares_of(self, printer_id: str) -> list[Share]:
        return [share for share in self.shares.values() if share.printer_id == printer_id]

    def trigger_of(self, printer_id: str) -> TaskTrigger | None:
        return next((t for t in self.triggers.values() if t.printer_id == printer_id), None)

    def jobs_of(self, printer_id: str) -> list[Job]:
        return [job for (pid, _), job in self.jobs.items() if pid == printer_id]

    def tasks_of_job(self, printer_id: str, job_id: str) -> list[Task]:
        return [t for t in self.tasks.values() if (t.printer_id, t.job_id) == (printer_id, job_id)]


class PrintStore:
    """Every directory's Universal Print, and the documents' pre-authenticated download links."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.tenants: dict[str, TenantPrint] = {tid: TenantPrint(tid) for tid in state.directories}
        self.downloads: dict[str, Download] = {}
        for seed_printer in state.seed.printers:
            self._add_seeded(seed_printer)

    def _add_seeded(self, seed: SeedPrinter) -> None:
        tenant = self.tenants[seed.directory]
        registered = seed.registered or iso(self.state.now())
        tenant.printers[seed.id] = Printer(
            id=seed.id,
            directory=seed.directory,
            display_name=seed.display_name,
            manufacturer=seed.manufacturer,
            model=seed.model,
            location=dict(seed.location),
            has_physical_device=seed.has_physical_device,
            is_accepting_jobs=seed.is_accepting_jobs,
            registered=registered,
        )
        for share in seed.shares:
            tenant.shares[share.id] = Share(share.id, seed.id, share.display_name, registered, share.allow_all_users)

    def tenant(self, reference: str) -> TenantPrint:
        """A directory by GUID or domain."""
        lowered = reference.strip().lower()
        for directory in self.state.directories.values():
            if lowered == directory.tenant_id or lowered in directory.domains:
                return self.tenants.setdefault(directory.tenant_id, TenantPrint(directory.tenant_id))
        raise PrintError(f"no directory {reference}")

    def require_printer(self, tenant: TenantPrint, reference: str) -> Printer:
        printer = tenant.printer(reference)
        if printer is None:
            raise PrintError(f"no printer {reference} in {tenant.tenant_id}")
        return printer

    # --- printers and shares (control API) ------------------------------------------------------------------

    def printer_add(self, tenant: TenantPrint, fields: dict[str, Any]) -> Printer:
        name, printer_id = _name_and_id(fields)
        with self.state.lock:
            if printer_id in tenant.printers or tenant.printer(name) is not None:
                raise PrintError(f"a printer {name} ({printer_id}) exists already")
            printer = Printer(
                id=printer_id,
                directory=tenant.tenant_id,
                display_name=name,
                manufacturer=fields.get("manufacturer"),
                model=fields.get("model"),
                location=dict(fields.get("location") or {}),
                has_physical_device=bool(fields.get("hasPhysicalDevice", False)),
                is_accepting_jobs=bool(fields.get("isAcceptingJobs", True)),
                registered=iso(self.state.now()),
            )
            tenant.printers[printer.id] = printer
        return printer

    def printer_update(self, tenant: TenantPrint, printer: Printer, fields: dict[str, Any]) -> None:
        with self.state.lock:
            if "displayName" in fields:
                printer.display_name = str(fields["displayName"])
            if "isAcceptingJobs" in fields:
                printer.is_accepting_jobs = bool(fields["isAcceptingJobs"])
            if "hasPhysicalDevice" in fields:
                printer.has_physical_device = bool(fields["hasPhysicalDevice"])
            if "location" in fields:
                printer.location = dict(fields["location"] or {})
            for name in ("manufacturer", "model"):
                if name in fields:
                    setattr(printer, name, fields[name])

    def printer_delete(self, tenant: TenantPrint, printer: Printer) -> None:
        """Unregister a printer: its shares, trigger and jobs go with it (its tasks stay, naming a gone job)."""
        with self.state.lock:
            del tenant.printers[printer.id]
            tenant.shares = {k: s for k, s in tenant.shares.items() if s.printer_id != printer.id}
            tenant.triggers = {k: t for k, t in tenant.triggers.items() if t.printer_id != printer.id}
            tenant.jobs = {k: j for k, j in tenant.jobs.items() if k[0] != printer.id}

    def share_add(self, tenant: TenantPrint, printer: Printer, fields: dict[str, Any]) -> Share:
        name, share_id = _name_and_id(fields)
        with self.state.lock:
            if share_id in tenant.shares or any(s.display_name.lower() == name.lower() for s in tenant.shares.values()):
                raise PrintError(f"a share {name} ({share_id}) exists already")
            share = Share(share_id, printer.id, name, iso(self.state.now()), bool(fields.get("allowAllUsers", True)))
            tenant.shares[share.id] = share
        return share

    # --- task definitions and triggers ----------------------------------------------------------------------

    def definition_create(
        self, tenant: TenantPrint, *, app_id: str, display_name: str, app_name: str | None
    ) -> TaskDefinition:
        definition = TaskDefinition(str(uuid.uuid4()), display_name, app_id, app_name)
        with self.state.lock:
            tenant.definitions[definition.id] = definition
        return definition

    def trigger_create(self, tenant: TenantPrint, printer: Printer, definition: TaskDefinition) -> TaskTrigger:
        with self.state.lock:
            trigger = TaskTrigger(str(uuid.uuid4()), printer.id, definition.id)
            tenant.triggers[trigger.id] = trigger
        return trigger

    # --- jobs and tasks ----------------------------------------------------------------------------------------

    def job_submit(
        self,
        tenant: TenantPrint,
        printer: Printer,
        user: User,
        document: Document,
        *,
        share: Share | None = None,
        configuration: dict[str, Any] | None = None,
    ) -> Job:
        """A user prints ``document`` to ``printer``; the printer's trigger (if any) holds it for a task."""
        if user.directory != tenant.tenant_id:
            raise PrintError(f"{user.upn} is not a user of {tenant.tenant_id}")
        if not printer.is_accepting_jobs:
            raise PrintError(f"printer {printer.display_name} is not accepting jobs")
        with self.state.lock:
            job = Job(
                id=str(printer.next_job_number),
                printer_id=printer.id,
                share_id=share.id if share else None,
                created_by=Creator(user.object_id, user.upn, user.display_name),
                created=iso(self.state.now()),
                configuration={"copies": 1, "colorMode": "color", "duplexMode": "oneSided", **(configuration or {})},
                documents=[document],
                state=JOB_PENDING,
                description=JOB_DESCRIPTIONS[JOB_PENDING],
                details=[],
                fetchable=True,
            )
            printer.next_job_number += 1
            tenant.jobs[(printer.id, job.id)] = job
            trigger = tenant.trigger_of(printer.id)
            if trigger is not None and trigger.event == JOB_STARTED:
                self._hold(tenant, job, trigger)
        return job

    def _hold(self, tenant: TenantPrint, job: Job, trigger: TaskTrigger) -> None:
        task = Task(
            id=str(uuid.uuid4()),
            definition_id=trigger.definition_id,
            trigger_id=trigger.id,
            printer_id=job.printer_id,
            job_id=job.id,
            state=TASK_PROCESSING,
            description=TASK_DESCRIPTIONS[TASK_PROCESSING],
            created_at=self.state.now(),
        )
        tenant.tasks[task.id] = task
        _set_job(job, JOB_PAUSED, ["releaseWait"], fetchable=False)

    def task_finish(self, tenant: TenantPrint, task: Task, state: str, description: str | None) -> None:
        """The app reports its task done: the job moves on (released, or aborted with the description)."""
        with self.state.lock:
            task.state = state
            task.description = description or TASK_DESCRIPTIONS[state]
            job = tenant.jobs.get((task.printer_id, task.job_id))
            if job is None or job.state not in (JOB_PAUSED, JOB_PENDING):
                return
            if state == TASK_ABORTED:
                _set_job(job, JOB_ABORTED, [], description=task.description, fetchable=False)
            elif not any(t.state not in TASK_FINAL_STATES for t in tenant.tasks_of_job(job.printer_id, job.id)):
                self._release(tenant, job)

    def _release(self, tenant: TenantPrint, job: Job) -> None:
        printer = tenant.printers.get(job.printer_id)
        if printer is not None and printer.has_physical_device:
            # The device fetches the released job and prints it.
            _set_job(job, JOB_PROCESSING, [], fetchable=True)
        else:
            _set_job(job, JOB_COMPLETED, ["completedSuccessfully"], fetchable=False)

    def job_abort(self, tenant: TenantPrint, job: Job, task: Task, reason: str | None) -> None:
        with self.state.lock:
            description = reason or JOB_DESCRIPTIONS[JOB_ABORTED]
            task.state, task.description = TASK_ABORTED, description
            _set_job(job, JOB_ABORTED, [], description=description, fetchable=False)

    # --- downloads -------------------------------------------------------------------------------------------

    def download_create(self, tenant: TenantPrint, job: Job, document: Document) -> Download:
        download = Download(
            id=str(uuid.uuid4()),
            secret=secrets.token_urlsafe(32),
            printer_id=job.printer_id,
            job_id=job.id,
            document_id=document.id,
            expires_at=self.state.now() + DOWNLOAD_LIFETIME,
            tenant_id=tenant.tenant_id,
        )
        with self.state.lock:
            now = self.state.now()
            self.downloads = {k: d for k, d in self.downloads.items() if d.expires_at > now}
            self.downloads[download.id] = download
        return download

    def download_document(self, download_id: str, secret: str) -> Document | None:
        """The document a pre-authenticated link names, while the link is valid."""
        download = self.downloads.get(download_id)
        if download is None or not secrets.compare_digest(download.secret, secret):
            return None
        if download.expires_at <= self.state.now():
            return None
        tenant = self.tenants.get(download.tenant_id)
        job = tenant.jobs.get((download.printer_id, download.job_id)) if tenant else None
        if job is None:
            return None
        return next((d for d in job.documents if d.id == download.document_id), None)


def _name_and_id(fields: dict[str, Any]) -> tuple[str, str]:
    """A new printer's or share's displayName (required) and id (the caller's, else a new one)."""
    name = str(fields.get("displayName") or "").strip()
    if not name:
        raise PrintError("missing field 'displayName'")
    return name, str(fields.get("id") or uuid.uuid4()).lower()


def _set_job(job: Job, state: str, details: list[str], *, fetchable: bool, description: str | None = None) -> None:
    job.state = state
    job.details = details
    job.description = description or JOB_DESCRIPTIONS[state]
    job.fetchable = fetchable


def print_store(state: State) -> PrintStore:
    return state_extension(state, PrintStore)
