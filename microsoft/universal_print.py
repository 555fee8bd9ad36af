"""Universal Print through Microsoft Graph: printers, shares, the task definition and its triggers, tasks, jobs.

How a service takes the jobs of a printer (Microsoft's "pull printing"): the app creates one task definition in
the directory (app-only), a Printer Administrator signed in to the same app puts a ``jobStarted`` trigger on the
printer (delegated), and from then on every job sent to that printer is held by a task of the definition. The app
reads the pending tasks, fetches each task's job and downloads its documents, then completes the task (the job is
released in Universal Print) or aborts it with a reason the user sees. A task nobody completes keeps its job
blocked until Universal Print deletes it.

Two kinds of token, because Microsoft supports some calls only one way:

- **app-only** (client credentials of the feature's app in the customer's directory, roles `APP_ROLES`):
  `printer_get`, the task definition (`task_definition_ensure` and friends), tasks (`tasks_pending`,
  `task_complete`, `task_abort`), `job_get`, `jobs_list`, `document_download`, `job_abort`;
- **delegated** (a Printer Administrator or Global Administrator of the directory signed in to the *same* app,
  scopes `DELEGATED_SCOPES`): `printers_list`, `shares_list`, and task triggers (`task_triggers_list`,
  `task_trigger_create`, `task_trigger_delete`). Listing printers and every trigger call are delegated only.

A poll, one task at a time (each step can be its own retryable unit; nothing here is held in memory whole)::

    definition = task_definition_ensure(token=app_token, app_id=client_id, display_name="Roger")
    for task in tasks_pending(token=app_token, definition_id=definition.id):
        job = job_get(token=app_token, printer_id=task.printer_id, job_id=task.job_id)
        with tempfile.TemporaryFile() as file:
            document_download(token=app_token, printer_id=job.printer_id, job_id=job.id,
                              document_id=job.documents[0].id, destination=file, max_bytes=limit)
            ...  # store the print job, keyed on (directory, printer id, job id)
        task_complete(token=app_token, definition_id=definition.id, task_id=task.id,
                      description="Held in Roger for release")

Failures are `microsoft.errors` as for every Graph call (`microsoft.graph`): `TransientError` (429, 5xx,
timeouts: retry no earlier than ``retry_after``; nothing here waits or retries on its own),
`AccessTokenRejected`, `PermissionMissing` (with what this call needs), `ResourceNotFound` (the printer, job or
task is gone), `ContentTooLarge`, and `PrintOperationRefused` (a printer that has another trigger, a job no task
of this app holds).

References:
- Pull printing: https://learn.microsoft.com/graph/universal-print-concept-overview#enable-pull-printing
- Permissions of each call: the API pages below, and https://learn.microsoft.com/graph/permissions-reference
- List printers (delegated only): https://learn.microsoft.com/graph/api/print-list-printers
- Get printer: https://learn.microsoft.com/graph/api/printer-get
- List shares (delegated only): https://learn.microsoft.com/graph/api/print-list-shares
- Create printTaskDefinition: https://learn.microsoft.com/graph/api/print-post-taskdefinitions
- Create printTaskTrigger (delegated only, same app as the definition, one per printer):
  https://learn.microsoft.com/graph/api/printer-post-tasktriggers
- List tasks: https://learn.microsoft.com/graph/api/printtaskdefinition-list-tasks
- Update printTask: https://learn.microsoft.com/graph/api/printtaskdefinition-update-task
- Get printJob: https://learn.microsoft.com/graph/api/printjob-get
- Download printDocument binary file: https://learn.microsoft.com/graph/api/printdocument-get-file
- printJob: abort: https://learn.microsoft.com/graph/api/printjob-abort
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

from microsoft import errors
from microsoft.config import GRAPH_RESOURCE
from microsoft.graph import graph_download, graph_get, graph_list, graph_send, graph_url

__all__ = [
    "APP_ROLES",
    "DELEGATED_SCOPES",
    "JobCreator",
    "JobState",
    "PrintDocument",
    "PrintJob",
    "PrintTask",
    "Printer",
    "PrinterShare",
    "TaskDefinition",
    "TaskState",
    "TaskTrigger",
    "document_download",
    "job_abort",
    "job_get",
    "jobs_list",
    "printer_get",
    "printers_list",
    "shares_list",
    "task_abort",
    "task_complete",
    "task_definition_create",
    "task_definition_delete",
    "task_definition_ensure",
    "task_definition_find",
    "task_definitions_list",
    "task_get",
    "task_trigger_create",
    "task_trigger_delete",
    "task_triggers_list",
    "tasks_pending",
]

# What the app-only calls here need (application permissions, admin-consented), least privileged where the API
# pages say so: printers and "Get printer access" for job calls, the task definition and its tasks, job metadata
# and document content (PrintJob.Read.All), abort (PrintJob.ReadWriteBasic.All; PrintJob.Manage.All and
# PrintJob.ReadWrite.All also allow it). PrintJob.ReadWrite.All alone would cover both PrintJob roles.
APP_ROLES = (
    "Printer.Read.All",
    "PrintTaskDefinition.ReadWrite.All",
    "PrintJob.Read.All",
    "PrintJob.ReadWriteBasic.All",
)
# What the delegated calls need: task triggers (create, delete; list with less) and listing shares.
DELEGATED_SCOPES = (f"{GRAPH_RESOURCE}/Printer.ReadWrite.All", f"{GRAPH_RESOURCE}/PrinterShare.ReadBasic.All")

JOB_STARTED = "jobStarted"
_PARENT_JOB = re.compile(r"/print/printers/(?P<printer>[^/]+)/jobs/(?P<job>[^/?#]+)/?$")


class TaskState(enum.StrEnum):
    """printTaskProcessingState."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    ABORTED = "aborted"
    UNKNOWN = "unknown"  # a value Microsoft added after this was written

    @property
    def is_open(self) -> bool:
        """Still the app's to complete or abort."""
        return self in (TaskState.PENDING, TaskState.PROCESSING)


class JobState(enum.StrEnum):
    """printJobProcessingState."""

    UNKNOWN = "unknown"
    PENDING = "pending"
    PROCESSING = "processing"
    PAUSED = "paused"
    STOPPED = "stopped"
    COMPLETED = "completed"
    CANCELED = "canceled"
    ABORTED = "aborted"


# --- results ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Printer:
    """A printer registered in Universal Print."""

    id: str
    display_name: str
    location: str  # a readable summary of printerLocation ("Contoso HQ, Floor 1, Reception, Redmond"), or ""
    manufacturer: str | None
    model: str | None
    is_shared: bool
    is_accepting_jobs: bool
    has_physical_device: bool  # False: a virtual queue (pull printing); True: a device may print its jobs itself


@dataclass(frozen=True)
class PrinterShare:
    """What users see as the printer in Windows; ``printer_id`` names the printer behind it."""

    id: str
    display_name: str
    printer_id: str | None
    location: str


@dataclass(frozen=True)
class TaskDefinition:
    id: str
    display_name: str
    app_id: str | None  # set by Microsoft from the token that created it
    app_display_name: str | None


@dataclass(frozen=True)
class TaskTrigger:
    id: str
    printer_id: str
    event: str
    definition_id: str | None
    # The app of the trigger's definition (another app's trigger holds the printer for that app). None when
    # Microsoft did not say: the answer to `task_trigger_create` names no app (the trigger is the caller's).
    app_id: str | None


@dataclass(frozen=True)
class PrintTask:
    """A task of the definition, holding the job named by ``printer_id`` and ``job_id``.

    ``printer_id``/``job_id`` are None when ``parent_url`` names something else than a printer's job.
    """

    id: str
    definition_id: str
    state: TaskState
    description: str
    parent_url: str
    printer_id: str | None
    job_id: str | None


@dataclass(frozen=True)
class JobCreator:
    """Who printed the job (``createdBy``): match users on the directory plus ``object_id``, never on names."""

    object_id: str | None
    user_principal_name: str | None
    display_name: str | None


@dataclass(frozen=True)
class PrintDocument:
    id: str
    display_name: str
    content_type: str | None
    size: int | None


@dataclass(frozen=True)
class PrintJob:
    """A job and its documents. Job ids count per printer: a job is (directory, ``printer_id``, ``id``)."""

    id: str
    printer_id: str
    created_at: datetime | None
    created_by: JobCreator
    state: JobState
    description: str
    details: tuple[str, ...]
    documents: tuple[PrintDocument, ...]


# --- printers and shares (delegated, except printer_get) -----------------------------------------------------------


def printers_list(*, token: str) -> list[Printer]:
    """Every printer of the directory. **Delegated token only** (Microsoft does not support app-only here):
    a Printer Administrator or Global Administrator with ``Printer.Read.All`` (or ``Printer.ReadWrite.All``).

    Reference: https://learn.microsoft.com/graph/api/print-list-printers
    """
    with _for("listing printers", "a Printer Administrator signed in with Printer.Read.All"):
        return [_printer(item) for item in graph_list(token=token, url=graph_url("/print/printers"))]


def printer_get(*, token: str, printer_id: str) -> Printer:
    """One printer; app-only with ``Printer.Read.All`` (or delegated as `printers_list`).

    Reference: https://learn.microsoft.com/graph/api/printer-get
    """
    with _for("reading a printer", "the application permission Printer.Read.All", missing="The printer"):
        return _printer(graph_get(token=token, url=_url("print", "printers", printer_id)))


def shares_list(*, token: str) -> list[PrinterShare]:
    """Every printer share, with its printer. **Delegated token only** (``PrinterShare.ReadBasic.All``).

    Reference: https://learn.microsoft.com/graph/api/print-list-shares
    """
    url = graph_url("/print/shares", expand="printer")
    with _for("listing printer shares", "a user signed in with PrinterShare.ReadBasic.All"):
        return [_share(item) for item in graph_list(token=token, url=url)]


# --- the task definition (app-only) --------------------------------------------------------------------------------


def task_definitions_list(*, token: str) -> list[TaskDefinition]:
    """Every task definition of the directory, any app's (``createdBy.appId`` says whose).

    Reference: https://learn.microsoft.com/graph/api/print-list-taskdefinitions
    """
    with _for("listing task definitions", _DEFINITION_ROLE):
        return [_definition(item) for item in graph_list(token=token, url=graph_url("/print/taskDefinitions"))]


def task_definition_find(*, token: str, app_id: str) -> TaskDefinition | None:
    """The task definition this app (``app_id``, its client id) created in the directory, if any."""
    mine = [d for d in task_definitions_list(token=token) if (d.app_id or "").lower() == app_id.lower()]
    return mine[0] if mine else None


def task_definition_create(*, token: str, display_name: str, app_display_name: str | None = None) -> TaskDefinition:
    """A new task definition; Microsoft sets ``createdBy.appId`` to the token's app.

    Reference: https://learn.microsoft.com/graph/api/print-post-taskdefinitions
    """
    body: dict[str, Any] = {"displayName": display_name, "createdBy": {"displayName": app_display_name or display_name}}
    with _for("creating the task definition", _DEFINITION_ROLE):
        return _definition(graph_send(token=token, method="POST", url=graph_url("/print/taskDefinitions"), body=body))


def task_definition_ensure(
    *, token: str, app_id: str, display_name: str, app_display_name: str | None = None
) -> TaskDefinition:
    """This app's task definition, created when it has none (one per app and directory).

    Not atomic: two callers at once could create two. Call it from one place at a time (the feature's claim).
    """
    found = task_definition_find(token=token, app_id=app_id)
    if found is not None:
        return found
    return task_definition_create(token=token, display_name=display_name, app_display_name=app_display_name)


def task_definition_delete(*, token: str, definition_id: str) -> bool:
    """Delete the task definition (its triggers must be deleted first); False when it was already gone.

    Reference: https://learn.microsoft.com/graph/api/print-delete-taskdefinition
    """
    try:
        with _for("deleting the task definition", _DEFINITION_ROLE, refused="Its task triggers must go first."):
            graph_send(token=token, method="DELETE", url=_url("print", "taskDefinitions", definition_id))
    except errors.ResourceNotFound:
        return False
    return True


# --- task triggers (delegated only) --------------------------------------------------------------------------------


def task_triggers_list(*, token: str, printer_id: str) -> list[TaskTrigger]:
    """The printer's task triggers, each with the app of its definition. **Delegated token only**.

    Reference: https://learn.microsoft.com/graph/api/printer-list-tasktriggers
    """
    url = _url("print", "printers", printer_id, "taskTriggers") + "?$expand=definition"
    with _for("listing task triggers", _TRIGGER_SCOPE, missing="The printer"):
        return [_trigger(item, printer_id) for item in graph_list(token=token, url=url)]


def task_trigger_create(*, token: str, printer_id: str, definition_id: str) -> TaskTrigger:
    """Hold the printer's jobs for this app: a ``jobStarted`` trigger pointing at ``definition_id``.

    **Delegated token only**, of a Printer Administrator (or Global Administrator) signed in to the app that
    created the definition, with ``Printer.ReadWrite.All``. Idempotent: when the printer already has this
    definition's trigger, that trigger is returned. A printer held by another app's trigger (Universal Print
    allows one per printer) raises `errors.PrintOperationRefused` with that app's id; a definition Universal Print
    does not know (deleted) raises `errors.ResourceNotFound`.

    Reference: https://learn.microsoft.com/graph/api/printer-post-tasktriggers
    """
    body = {"event": JOB_STARTED, "definition@odata.bind": graph_url(f"/print/taskDefinitions/{definition_id}")}
    url = _url("print", "printers", printer_id, "taskTriggers")
    try:
        with _for("creating a task trigger", _TRIGGER_SCOPE, missing="The printer"):
            created = _trigger(graph_send(token=token, method="POST", url=url, body=body), printer_id)
            return replace(created, definition_id=definition_id)
    except errors.MicrosoftError as refused:
        if refused.status != 400:
            raise
        return _trigger_after_refusal(token, printer_id, definition_id, refused)


def _trigger_after_refusal(
    token: str, printer_id: str, definition_id: str, refused: errors.MicrosoftError
) -> TaskTrigger:
    """Why Universal Print said no, from what is on the printer (its answer says it only in words)."""
    existing = task_triggers_list(token=token, printer_id=printer_id)
    ours = next((t for t in existing if t.definition_id == definition_id), None)
    if ours is not None:
        return ours
    details = _details(refused)
    if existing:
        raise errors.PrintOperationRefused(
            "This printer's jobs already go to another application (Universal Print allows one task trigger per "
            "printer). Remove that application's trigger in the Universal Print portal, or choose another printer.",
            app_id=existing[0].app_id,
            **details,
        ) from refused
    raise errors.ResourceNotFound(
        "Universal Print does not know this service's task definition any more; it is created again.", **details
    ) from refused


def task_trigger_delete(*, token: str, printer_id: str, trigger_id: str) -> bool:
    """Stop holding the printer's jobs; False when the trigger (or the printer) was already gone.

    **Delegated token only** (``Printer.ReadWrite.All``), of the app whose definition the trigger points at.

    Reference: https://learn.microsoft.com/graph/api/printer-delete-tasktrigger
    """
    url = _url("print", "printers", printer_id, "taskTriggers", trigger_id)
    try:
        with _for("deleting a task trigger", _TRIGGER_SCOPE):
            graph_send(token=token, method="DELETE", url=url)
    except errors.ResourceNotFound:
        return False
    return True


# --- tasks (app-only) ----------------------------------------------------------------------------------------------


def tasks_pending(*, token: str, definition_id: str) -> list[PrintTask]:
    """The definition's tasks still to complete or abort (pending or processing), oldest first.

    Microsoft's list also has recently completed tasks; they are left out here.

    Reference: https://learn.microsoft.com/graph/api/printtaskdefinition-list-tasks
    """
    url = _url("print", "taskDefinitions", definition_id, "tasks")
    with _for("listing print tasks", _DEFINITION_ROLE, missing="The task definition"):
        tasks = [_task(item, definition_id) for item in graph_list(token=token, url=url)]
    return [task for task in tasks if task.state.is_open]


def task_get(*, token: str, definition_id: str, task_id: str) -> PrintTask:
    """Reference: https://learn.microsoft.com/graph/api/printtask-get"""
    url = _url("print", "taskDefinitions", definition_id, "tasks", task_id)
    with _for("reading a print task", _DEFINITION_ROLE, missing="The print task"):
        return _task(graph_get(token=token, url=url), definition_id)


def task_complete(*, token: str, definition_id: str, task_id: str, description: str) -> PrintTask:
    """Report the task done: Universal Print releases its job. ``description`` is for people ("Held in Roger").

    A task already finished is returned as it is (its ``state`` says how it ended), so completing twice, after a
    worker died between the call and recording it, is harmless.

    Reference: https://learn.microsoft.com/graph/api/printtaskdefinition-update-task
    """
    return _task_finish(token, definition_id, task_id, TaskState.COMPLETED, description)


def task_abort(*, token: str, definition_id: str, task_id: str, description: str) -> PrintTask:
    """Give the task up: Universal Print aborts its job with ``description``, which the user sees there.

    A task already finished is returned as it is.

    Reference: https://learn.microsoft.com/graph/api/printtaskdefinition-update-task
    """
    return _task_finish(token, definition_id, task_id, TaskState.ABORTED, description)


def _task_finish(token: str, definition_id: str, task_id: str, state: TaskState, description: str) -> PrintTask:
    url = _url("print", "taskDefinitions", definition_id, "tasks", task_id)
    body = {"status": {"state": str(state), "description": description}}
    try:
        with _for("updating a print task", _DEFINITION_ROLE, missing="The print task"):
            return _task(graph_send(token=token, method="PATCH", url=url, body=body), definition_id)
    except errors.MicrosoftError as refused:
        if refused.status != 400:
            raise
        current = task_get(token=token, definition_id=definition_id, task_id=task_id)
        if current.state.is_open:
            raise  # refused for another reason than being finished already: our request is wrong
        return current


# --- jobs and documents (app-only) ---------------------------------------------------------------------------------


def job_get(*, token: str, printer_id: str, job_id: str) -> PrintJob:
    """The job with ``createdBy`` and its documents (``PrintJob.Read.All`` and ``Printer.Read.All``).

    Reference: https://learn.microsoft.com/graph/api/printjob-get
    """
    url = _url("print", "printers", printer_id, "jobs", job_id) + "?$expand=documents"
    with _for(
        "reading a print job",
        "the application permissions PrintJob.Read.All and Printer.Read.All",
        missing="The print job",
    ):
        return _job(graph_get(token=token, url=url), printer_id)


def jobs_list(*, token: str, printer_id: str, created_by: str | None = None) -> list[PrintJob]:
    """The printer's jobs with their documents (those of one user with ``created_by``, a user principal name).

    Needs ``PrintJob.ReadBasic.All`` (or higher) and ``Printer.Read.All``.

    Reference: https://learn.microsoft.com/graph/api/printer-list-jobs
    """
    upn_filter = f"createdBy/userPrincipalName eq '{created_by.replace(chr(39), chr(39) * 2)}'" if created_by else None
    url = graph_url(f"/print/printers/{quote(printer_id, safe='')}/jobs", expand="documents", filter=upn_filter)
    with _for(
        "listing print jobs",
        "the application permissions PrintJob.Read.All and Printer.Read.All",
        missing="The printer",
    ):
        return [_job(item, printer_id) for item in graph_list(token=token, url=url)]


def document_download(
    *, token: str, printer_id: str, job_id: str, document_id: str, destination: BinaryIO, max_bytes: int
) -> int:
    """Stream a job's document into ``destination``; the number of bytes written.

    Graph answers with a redirect to a short-lived pre-authenticated URL, fetched without the bearer token. Over
    ``max_bytes`` raises `errors.ContentTooLarge` (what was written by then is the caller's to discard). Needs
    ``PrintJob.Read.All`` (``PrintJob.ReadBasic.All`` does not give the content) and ``Printer.Read.All``.

    Reference: https://learn.microsoft.com/graph/api/printdocument-get-file
    """
    url = _url("print", "printers", printer_id, "jobs", job_id, "documents", document_id) + "/$value"
    with _for(
        "downloading a print document",
        "the application permissions PrintJob.Read.All and Printer.Read.All",
        missing="The print document",
    ):
        return graph_download(token=token, url=url, destination=destination, max_bytes=max_bytes)


def job_abort(*, token: str, printer_id: str, job_id: str, reason: str) -> None:
    """Abort a job this app's task holds (app-only, ``PrintJob.ReadWriteBasic.All`` or higher); ``reason`` is
    shown to the user.

    Its task is aborted with it. A job no processing task of this app holds raises
    `errors.PrintOperationRefused`. (`task_abort` does the same from the task's side.)

    Reference: https://learn.microsoft.com/graph/api/printjob-abort
    """
    url = _url("print", "printers", printer_id, "jobs", job_id, "abort")
    refused = "No task of this service holds the job any more (it was completed, aborted or redirected)."
    with _for(
        "aborting a print job",
        "the application permissions PrintJob.ReadWriteBasic.All and Printer.Read.All",
        missing="The print job",
        refused=refused,
    ):
        graph_send(token=token, method="POST", url=url, body={"reason": reason})


# --- parsing -------------------------------------------------------------------------------------------------------


def _printer(item: Mapping[str, Any]) -> Printer:
    return Printer(
        id=str(item["id"]),
        display_name=str(item.get("displayName") or ""),
        location=_location(item.get("location")),
        manufacturer=item.get("manufacturer"),
        model=item.get("model"),
        is_shared=bool(item.get("isShared", False)),
        is_accepting_jobs=bool(item.get("isAcceptingJobs", True)),
        has_physical_device=bool(item.get("hasPhysicalDevice", False)),
    )


def _location(location: Any) -> str:
    if not isinstance(location, Mapping):
        return ""
    floor = location.get("floorDescription") or (f"Floor {location['floor']}" if location.get("floor") else None)
    parts = (location.get("building"), floor, location.get("roomName"), location.get("city"))
    return ", ".join(str(part) for part in parts if part)


def _share(item: Mapping[str, Any]) -> PrinterShare:
    printer = item.get("printer")
    return PrinterShare(
        id=str(item["id"]),
        display_name=str(item.get("displayName") or ""),
        printer_id=str(printer["id"]) if isinstance(printer, Mapping) and printer.get("id") else None,
        location=_location(item.get("location")),
    )


def _definition(item: Mapping[str, Any]) -> TaskDefinition:
    created_by = _mapping(item.get("createdBy"))
    return TaskDefinition(
        id=str(item["id"]),
        display_name=str(item.get("displayName") or ""),
        app_id=created_by.get("appId"),
        app_display_name=created_by.get("displayName"),
    )


def _trigger(item: Mapping[str, Any], printer_id: str) -> TaskTrigger:
    definition = item.get("definition")
    parsed = _definition(definition) if isinstance(definition, Mapping) and definition.get("id") else None
    return TaskTrigger(
        id=str(item["id"]),
        printer_id=printer_id,
        event=str(item.get("event") or ""),
        definition_id=parsed.id if parsed else None,
        app_id=parsed.app_id if parsed else None,
    )


def _task(item: Mapping[str, Any], definition_id: str) -> PrintTask:
    status = _mapping(item.get("status"))
    parent_url = str(item.get("parentUrl") or "")
    parent = _PARENT_JOB.search(urlsplit(parent_url).path)
    return PrintTask(
        id=str(item["id"]),
        definition_id=definition_id,
        state=_enum(TaskState, status.get("state"), TaskState.UNKNOWN),
        description=str(status.get("description") or ""),
        parent_url=parent_url,
        printer_id=parent.group("printer") if parent else None,
        job_id=parent.group("job") if parent else None,
    )


def _job(item: Mapping[str, Any], printer_id: str) -> PrintJob:
    status = _mapping(item.get("status"))
    creator = _mapping(item.get("createdBy"))
    return PrintJob(
        id=str(item["id"]),
        printer_id=printer_id,
        created_at=_datetime(item.get("createdDateTime")),
        created_by=JobCreator(
            object_id=creator.get("id"),
            user_principal_name=creator.get("userPrincipalName"),
            display_name=creator.get("displayName"),
        ),
        state=_enum(JobState, status.get("state"), JobState.UNKNOWN),
        description=str(status.get("description") or ""),
        details=tuple(str(d) for d in status.get("details") or ()),
        documents=tuple(_document(d) for d in item.get("documents") or () if isinstance(d, Mapping)),
    )


def _document(item: Mapping[str, Any]) -> PrintDocument:
    size = item.get("size")
    return PrintDocument(
        id=str(item["id"]),
        display_name=str(item.get("displayName") or ""),
        content_type=item.get("contentType"),
        size=int(size) if isinstance(size, int) else None,
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _enum(kind: Callable[[str], Any], value: Any, default: Any) -> Any:
    try:
        return kind(str(value))
    except ValueError:
        return default


def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    # Universal Print writes seven fractional digits ("2020-02-04T00:00:00.0000000Z"); Python reads six.
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


# --- URLs and errors -----------------------------------------------------------------------------------------------

_DEFINITION_ROLE = "the application permission PrintTaskDefinition.ReadWrite.All"
_TRIGGER_SCOPE = (
    "a Printer Administrator (or Global Administrator) signed in to this app with Printer.ReadWrite.All; "
    "application permissions cannot manage task triggers"
)


def _url(*segments: str) -> str:
    """A Graph URL from path segments, each escaped (ids come from stored data)."""
    return graph_url("/" + "/".join(quote(segment, safe="") for segment in segments))


def _details(error: errors.MicrosoftError) -> dict[str, Any]:
    return {
        "error": error.error,
        "description": error.description,
        "correlation_id": error.correlation_id,
        "status": error.status,
    }


@contextmanager
def _for(action: str, needs: str, *, missing: str | None = None, refused: str | None = None) -> Iterator[None]:
    """Graph's errors, explained for this call: what it needs, what is gone, what Universal Print refused."""
    try:
        yield
    except errors.PermissionMissing as error:
        raise errors.PermissionMissing(
            f"Universal Print refused {action}: it needs {needs}. If the permission is granted, an administrator "
            "may need to grant admin consent again (Reapply Consents).",
            **_details(error),
        ) from error
    except errors.ResourceNotFound as error:
        if missing is None:
            raise
        raise errors.ResourceNotFound(f"{missing} no longer exists in Universal Print.", **_details(error)) from error
    except errors.MicrosoftError as error:
        if refused is None or error.status != 400 or type(error) is not errors.MicrosoftError:
            raise
        raise errors.PrintOperationRefused(f"Universal Print refused {action}. {refused}", **_details(error)) from error
