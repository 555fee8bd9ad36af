"""Universal Print under ``/graph/v1.0/print``: printers, shares, task definitions, triggers, jobs, tasks, documents.

Permissions, as each API page of Microsoft Graph v1.0 lists them (any one of; "admin": the signed-in user must
be a Printer Administrator or Global Administrator):

- ``GET /print/printers``: delegated ``Printer.Read.All``, ``Printer.ReadWrite.All``, ``Printer.FullControl.All``
  (admin); application permissions are **not supported**.
- ``GET /print/printers/{id}``: application ``Printer.Read.All``, ``Printer.ReadWrite.All``; delegated as above.
- ``GET /print/shares[/{id}]``: delegated only, ``PrinterShare.ReadBasic.All``, ``PrinterShare.Read.All``,
  ``PrinterShare.ReadWrite.All`` (a user who is not an admin sees id, displayName, manufacturer, model, location).
- ``/print/taskDefinitions`` (list, create, get, delete) and their ``tasks`` (list, get, update): application
  ``PrintTaskDefinition.ReadWrite.All`` only.
- Task triggers: delegated only (admin); list and get ``Printer.Read.All`` and higher, create and delete
  ``Printer.ReadWrite.All``, ``Printer.FullControl.All``.
- Jobs, a job, its documents: application ``PrintJob.ReadBasic.All``, ``PrintJob.Read.All``,
  ``PrintJob.ReadWriteBasic.All``, ``PrintJob.ReadWrite.All``; delegated the same and ``PrintJob.ReadBasic``,
  ``PrintJob.Read``, ``PrintJob.ReadWriteBasic``, ``PrintJob.ReadWrite``.
- A document's content (``$value``): application ``PrintJob.Read.All``, ``PrintJob.ReadWrite.All``; delegated
  ``PrintJob.Read``, ``PrintJob.Read.All``, ``PrintJob.ReadWrite``, ``PrintJob.ReadWrite.All``.
- ``POST .../jobs/{id}/abort``: application only, ``PrintJob.ReadWriteBasic.All``, ``PrintJob.Manage.All``,
  ``PrintJob.ReadWrite.All``.
- App-only calls about jobs also need "a permission that grants Get printer access" (``Printer.Read.All`` or
  ``Printer.ReadWrite.All``).

A delegated caller sees other users' jobs only with an ``.All`` scope and an admin role. A call the token is not
good for (a missing permission, app-only where only delegated is supported, or the reverse) is answered as
Universal Print answers it: ``403`` ``UnknownError`` ``"The token does not have one or more required security
scopes."`` (the body seen in a public capture; the status is assumed).

Rules enforced beyond permissions: one task trigger per printer (400, code ``400``, "Invalid Operation: There is a
task trigger already created for the printer ..."); a trigger's definition must belong to the calling app (400,
"Invalid Operation:No Task definition object found with given parameters.", both messages from public captures);
tasks are updated and triggers deleted only by the definition's app; a task once completed or aborted cannot be
updated again; a job is aborted only while a processing task of this app's trigger holds it; a definition with
triggers cannot be deleted (delete the triggers first). The job follows its task (``print_store.py``).

``$value`` answers ``302 Found`` with a pre-authenticated URL on this emulator (``/print-downloads/{id}?
tempauthtoken=...``, valid 10 minutes on the emulator clock, request-log endpoint ``print_download``), which serves
the bytes to a request without an ``Authorization`` header (one with a bearer token is refused with 401: the token
must never travel with the download).

References:
- Universal Print overview, pull printing: https://learn.microsoft.com/graph/universal-print-concept-overview
- List printers: https://learn.microsoft.com/graph/api/print-list-printers
- Get printer: https://learn.microsoft.com/graph/api/printer-get
- List shares: https://learn.microsoft.com/graph/api/print-list-shares
- Create printTaskDefinition: https://learn.microsoft.com/graph/api/print-post-taskdefinitions
- Delete taskDefinition: https://learn.microsoft.com/graph/api/print-delete-taskdefinition
- List tasks: https://learn.microsoft.com/graph/api/printtaskdefinition-list-tasks
- Update printTask: https://learn.microsoft.com/graph/api/printtaskdefinition-update-task
- Create printTaskTrigger: https://learn.microsoft.com/graph/api/printer-post-tasktriggers
- List taskTriggers: https://learn.microsoft.com/graph/api/printer-list-tasktriggers
- Delete taskTrigger: https://learn.microsoft.com/graph/api/printer-delete-tasktrigger
- List printJobs for a printer: https://learn.microsoft.com/graph/api/printer-list-jobs
- Get printJob: https://learn.microsoft.com/graph/api/printjob-get
- Download printDocument binary file: https://learn.microsoft.com/graph/api/printdocument-get-file
- printJob: abort: https://learn.microsoft.com/graph/api/printjob-abort
- Duplicate-trigger and other-app-definition errors: https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/2803,
  https://github.com/microsoftgraph/msgraph-sdk-raptor/issues/909
- Universal Print's scope error: https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/4337
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from m365_emulator import roles
from m365_emulator.graph import odata
from m365_emulator.graph.base import (
    GraphError,
    GraphRequest,
    Permissions,
    TokenInvalid,
    TokenStale,
    bad_request,
    graph_route,
    token_decode,
    token_encode,
)
from m365_emulator.graph.print_store import (
    JOB_STARTED,
    TASK_ABORTED,
    TASK_COMPLETED,
    TASK_FINAL_STATES,
    TASK_PROCESSING,
    Document,
    Job,
    Printer,
    PrintStore,
    Share,
    Task,
    TaskDefinition,
    TaskTrigger,
    TenantPrint,
    print_store,
)
from m365_emulator.responses import emulator_state

DOWNLOAD_PATH = "/print-downloads"

_PRINTER_READ = ("Printer.Read.All", "Printer.ReadWrite.All", "Printer.FullControl.All")
PRINTERS_LIST = Permissions.of(delegated=_PRINTER_READ)
PRINTER_GET = Permissions.of(application=("Printer.Read.All", "Printer.ReadWrite.All"), delegated=_PRINTER_READ)
SHARES_READ = Permissions.of(
    delegated=("PrinterShare.ReadBasic.All", "PrinterShare.Read.All", "PrinterShare.ReadWrite.All")
)
TASK_DEFINITIONS = Permissions.of(application=("PrintTaskDefinition.ReadWrite.All",))
TRIGGERS_READ = Permissions.of(delegated=_PRINTER_READ)
TRIGGERS_WRITE = Permissions.of(delegated=("Printer.ReadWrite.All", "Printer.FullControl.All"))
_ALL_JOBS_DELEGATED = (
    "PrintJob.ReadBasic.All",
    "PrintJob.Read.All",
    "PrintJob.ReadWriteBasic.All",
    "PrintJob.ReadWrite.All",
)
JOBS_READ = Permissions.of(
    application=_ALL_JOBS_DELEGATED,
    delegated=(
        "PrintJob.ReadBasic",
        "PrintJob.Read",
        "PrintJob.ReadWriteBasic",
        "PrintJob.ReadWrite",
        *_ALL_JOBS_DELEGATED,
    ),
)
JOB_CONTENT = Permissions.of(
    application=("PrintJob.Read.All", "PrintJob.ReadWrite.All"),
    delegated=("PrintJob.Read", "PrintJob.Read.All", "PrintJob.ReadWrite", "PrintJob.ReadWrite.All"),
)
JOB_ABORT = Permissions.of(application=("PrintJob.ReadWriteBasic.All", "PrintJob.Manage.All", "PrintJob.ReadWrite.All"))
# Job calls with application permissions also need "a permission that grants Get printer access".
GET_PRINTER_ACCESS = Permissions.of(application=("Printer.Read.All", "Printer.ReadWrite.All"))
PRINT_ADMINISTRATORS = frozenset({roles.PRINTER_ADMINISTRATOR, roles.GLOBAL_ADMINISTRATOR})

_DEFINITION_BIND = re.compile(r"/print/taskDefinitions/(?P<id>[^/?#]+)/?$", re.IGNORECASE)
_NOT_ON_TASK_LISTS = ("$count", "$format", "$search", "$select", "$skip", "$top")
_NOT_ON_LISTS = ("$count", "$search", "$skip", "$orderby")

PRINTER_PROPERTIES = (
    "id",
    "displayName",
    "manufacturer",
    "model",
    "isShared",
    "isAcceptingJobs",
    "hasPhysicalDevice",
    "registeredDateTime",
    "location",
    "status",
    "defaults",
)
SHARE_PROPERTIES = (
    "id",
    "displayName",
    "createdDateTime",
    "isAcceptingJobs",
    "allowAllUsers",
    "manufacturer",
    "model",
    "location",
    "status",
)
DEFINITION_PROPERTIES = ("id", "displayName", "createdBy")
TASK_PROPERTIES = ("id", "parentUrl", "status")
TRIGGER_PROPERTIES = ("id", "event")
JOB_PROPERTIES = (
    "id",
    "createdDateTime",
    "createdBy",
    "configuration",
    "status",
    "redirectedTo",
    "redirectedFrom",
    "isFetchable",
)
# What a user who is not a Printer Administrator sees of a share.
SHARE_BASIC_PROPERTIES = ("id", "displayName", "manufacturer", "model", "location")


# --- refusals ---------------------------------------------------------------------------------------------------


def scope_refused() -> GraphError:
    """Universal Print's own refusal (its service answers, not Graph's directory): the token cannot do this."""
    return GraphError(403, "UnknownError", '"The token does not have one or more required security scopes."')


def invalid_operation(message: str) -> GraphError:
    return GraphError(400, "400", f"Invalid Operation: {message}")


_Found = TypeVar("_Found")


def _not_found(what: str, reference: str) -> GraphError:
    return GraphError(404, "NotFound", f"The {what} '{reference}' was not found.")


def _require(req: GraphRequest, permissions: Permissions, *, admin: bool = False) -> None:
    if not req.caller.holds(permissions):
        raise scope_refused()
    if admin and not req.caller.app_only and not _is_print_admin(req):
        raise scope_refused()


def _require_app_only(req: GraphRequest, permissions: Permissions) -> None:
    if not req.caller.app_only or not req.caller.holds(permissions):
        raise scope_refused()


def _is_print_admin(req: GraphRequest) -> bool:
    user = req.state.users.get(req.caller.user_id or "")
    return user is not None and bool(PRINT_ADMINISTRATORS & set(user.directory_roles))


# --- lookups -----------------------------------------------------------------------------------------------------


def _tenant(req: GraphRequest) -> tuple[PrintStore, TenantPrint]:
    store = print_store(req.state)
    return store, store.tenant(req.caller.tenant_id)


def _path_object(
    req: GraphRequest,
    param: str,
    what: str,
    find: Callable[[str], _Found | None],
    *,
    belongs: Callable[[_Found], bool] = lambda _: True,
    lowered: bool = True,
) -> _Found:
    """The object the URL's ``{param}`` names, or Universal Print's 404 for ``what``: one that does not exist, one
    under another parent and one this caller may not see (``belongs`` is False) all read the same."""
    reference = req.request.path_params[param]
    if lowered:
        reference = reference.lower()
    found = find(reference)
    if found is None or not belongs(found):
        raise _not_found(what, reference)
    return found


def _printer(req: GraphRequest, tenant: TenantPrint) -> Printer:
    return _path_object(req, "printer", "printer", tenant.printers.get)


def _job(req: GraphRequest, tenant: TenantPrint, printer: Printer) -> Job:
    return _path_object(
        req,
        "job",
        "print job",
        lambda reference: tenant.jobs.get((printer.id, reference)),
        belongs=lambda job: _sees_job(req, job),
        lowered=False,
    )


def _document(req: GraphRequest, job: Job) -> Document:
    return _path_object(req, "document", "document", lambda ref: next((d for d in job.documents if d.id == ref), None))


def _definition(req: GraphRequest, tenant: TenantPrint) -> TaskDefinition:
    return _path_object(req, "definition", "task definition", tenant.definitions.get)


def _task(req: GraphRequest, tenant: TenantPrint, definition: TaskDefinition) -> Task:
    return _path_object(req, "task", "task", tenant.tasks.get, belongs=lambda task: task.definition_id == definition.id)


def _sees_job(req: GraphRequest, job: Job) -> bool:
    if req.caller.app_only or job.created_by.id == req.caller.user_id:
        return True
    return bool(req.caller.scopes & set(_ALL_JOBS_DELEGATED)) and _is_print_admin(req)


# --- JSON --------------------------------------------------------------------------------------------------------


def _status(state: str = "idle") -> dict[str, Any]:
    return {"state": state, "details": [], "description": ""}


def printer_json(printer: Printer, tenant: TenantPrint, *, with_defaults: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": printer.id,
        "displayName": printer.display_name,
        "manufacturer": printer.manufacturer,
        "model": printer.model,
        "isShared": bool(tenant.shares_of(printer.id)),
        "isAcceptingJobs": printer.is_accepting_jobs,
        "hasPhysicalDevice": printer.has_physical_device,
        "registeredDateTime": printer.registered,
        "location": dict(printer.location),
        "status": _status(),
    }
    if with_defaults:
        body["defaults"] = {
            "copiesPerJob": 1,
            "colorMode": "color",
            "duplexMode": "oneSided",
            "contentType": "application/oxps",
        }
    return body


def share_json(share: Share, printer: Printer | None, *, basic: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": share.id,
        "displayName": share.display_name,
        "createdDateTime": share.created,
        "isAcceptingJobs": printer.is_accepting_jobs if printer else False,
        "allowAllUsers": share.allow_all_users,
        "manufacturer": printer.manufacturer if printer else None,
        "model": printer.model if printer else None,
        "location": dict(printer.location) if printer else {},
        "status": _status(),
    }
    return {k: v for k, v in body.items() if k in SHARE_BASIC_PROPERTIES} if basic else body


def definition_json(definition: TaskDefinition) -> dict[str, Any]:
    return {
        "id": definition.id,
        "displayName": definition.display_name,
        "createdBy": {"appId": definition.app_id, "displayName": definition.app_display_name},
    }


def trigger_json(trigger: TaskTrigger, tenant: TenantPrint, expand: Sequence[str]) -> dict[str, Any]:
    body: dict[str, Any] = {"id": trigger.id, "event": trigger.event}
    definition = tenant.definitions.get(trigger.definition_id)
    if "definition" in expand and definition is not None:
        body["definition"] = definition_json(definition)
    return body


def task_json(req: GraphRequest, task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "parentUrl": f"{req.base_url}/print/printers/{task.printer_id}/jobs/{task.job_id}",
        "status": {"state": task.state, "description": task.description},
    }


def document_json(document: Document) -> dict[str, Any]:
    return {
        "id": document.id,
        "displayName": document.display_name,
        "contentType": document.content_type,
        "size": document.size,
    }


def job_json(req: GraphRequest, job: Job, tenant: TenantPrint, expand: Sequence[str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": job.id,
        "createdDateTime": job.created,
        "createdBy": {
            "id": job.created_by.id,
            "displayName": job.created_by.display_name,
            "ipAddress": None,
            "userPrincipalName": job.created_by.user_principal_name,
        },
        "configuration": dict(job.configuration),
        "status": {
            "state": job.state,
            "description": job.description,
            "details": list(job.details),
            "isAcquiredByPrinter": False,
        },
        "redirectedTo": None,
        "redirectedFrom": None,
        "isFetchable": job.fetchable,
    }
    if "documents" in expand:
        body["documents"] = [document_json(d) for d in job.documents]
    if "tasks" in expand:
        body["tasks"] = [task_json(req, t) for t in tenant.tasks_of_job(job.printer_id, job.id)]
    return body


# --- query options -------------------------------------------------------------------------------------------------


def _expand(req: GraphRequest, allowed: Sequence[str]) -> tuple[str, ...]:
    raw = req.param("$expand")
    if not raw:
        return ()
    names = tuple(part.strip() for part in raw.split(",") if part.strip())
    for name in names:
        if name not in allowed:
            raise bad_request(f"Parsing OData Select and Expand failed: Could not find a property named '{name}'.")
    return names


def _project(req: GraphRequest, body: dict[str, Any], known: Sequence[str], type_name: str) -> dict[str, Any]:
    select = req.select(known, type_name)
    if select is None:
        return body
    expanded = set(_expand_names(req))
    return {k: v for k, v in body.items() if k in select or k in expanded}


def _expand_names(req: GraphRequest) -> tuple[str, ...]:
    raw = req.param("$expand") or ""
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _page(
    req: GraphRequest, *, kind: str, context: str, items: list[dict[str, Any]], top: int, known: Sequence[str]
) -> Response:
    """A page of a small collection: ``$filter`` on the rendered objects, then ``top`` from the skiptoken on."""
    raw_filter = req.param("$filter")
    if raw_filter:
        node = odata.parse_filter(raw_filter, known, kind.partition(":")[0])
        items = [item for item in items if odata.matches(node, item.get)]
    position = _position(req, kind)
    chunk = items[position : position + top]
    next_link = None
    if position + top < len(items):
        query = {k: v for k, v in req.request.query_params.items() if k.lstrip("$") != "skiptoken"}
        token = token_encode(req.state, {"k": kind, "t": req.caller.tenant_id, "p": position + top})
        next_link = req.link(req.path, {**query, "$skiptoken": token})
    return req.page(context=context, items=chunk, next_link=next_link)


def _position(req: GraphRequest, kind: str) -> int:
    token = req.param("$skiptoken")
    if token is None:
        return 0
    try:
        payload = token_decode(req.state, token)
    except (TokenInvalid, TokenStale, ValueError):
        raise bad_request("The specified page token value is invalid or has expired.") from None
    if payload.get("k") != kind or payload.get("t") != req.caller.tenant_id:
        raise bad_request("The specified page token value is invalid or has expired.")
    return int(payload["p"])


async def _body(req: GraphRequest) -> dict[str, Any]:
    try:
        body = await req.request.json()
    except ValueError:
        raise bad_request("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    return body


# --- printers and shares ------------------------------------------------------------------------------------------


def printers_list(req: GraphRequest) -> Response:
    _require(req, PRINTERS_LIST, admin=True)
    req.reject_options(("$count", "$search"), "this request")
    _, tenant = _tenant(req)
    expand = _expand(req, ("shares",))
    items = []
    for printer in tenant.printers.values():
        body = printer_json(printer, tenant, with_defaults=False)
        if "shares" in expand:
            body["shares"] = [share_json(s, printer, basic=False) for s in tenant.shares_of(printer.id)]
        items.append(_project(req, body, PRINTER_PROPERTIES, "printer"))
    return _page(
        req,
        kind="printers",
        context=req.context("print/printers"),
        items=items,
        top=req.top(),
        known=PRINTER_PROPERTIES,
    )


def printer_get(req: GraphRequest) -> Response:
    _require(req, PRINTER_GET, admin=True)
    _, tenant = _tenant(req)
    printer = _printer(req, tenant)
    body = printer_json(printer, tenant, with_defaults=True)
    if "shares" in _expand(req, ("shares",)):
        body["shares"] = [share_json(s, printer, basic=False) for s in tenant.shares_of(printer.id)]
    body = _project(req, body, PRINTER_PROPERTIES, "printer")
    return req.entity("print/printers", body)


def shares_list(req: GraphRequest) -> Response:
    _require(req, SHARES_READ)
    req.reject_options(("$count", "$search"), "this request")
    _, tenant = _tenant(req)
    basic = not _is_print_admin(req)
    expand = _expand(req, ("printer",))
    items = []
    for share in tenant.shares.values():
        printer = tenant.printers.get(share.printer_id)
        body = share_json(share, printer, basic=basic)
        if "printer" in expand and printer is not None:
            body["printer"] = printer_json(printer, tenant, with_defaults=False)
        items.append(_project(req, body, SHARE_PROPERTIES, "printerShare"))
    return _page(
        req, kind="shares", context=req.context("print/shares"), items=items, top=req.top(), known=SHARE_PROPERTIES
    )


def share_get(req: GraphRequest) -> Response:
    _require(req, SHARES_READ)
    _, tenant = _tenant(req)
    share = _path_object(req, "share", "printer share", tenant.shares.get)
    printer = tenant.printers.get(share.printer_id)
    body = share_json(share, printer, basic=False)
    if "printer" in _expand(req, ("printer",)) and printer is not None:
        body["printer"] = printer_json(printer, tenant, with_defaults=False)
    return req.entity("print/shares", body)


# --- task definitions and their tasks --------------------------------------------------------------------------


def definitions_list(req: GraphRequest) -> Response:
    _require_app_only(req, TASK_DEFINITIONS)
    _, tenant = _tenant(req)
    items = [definition_json(d) for d in tenant.definitions.values()]
    return _page(
        req,
        kind="definitions",
        context=req.context("print/taskDefinitions"),
        items=items,
        top=req.top(),
        known=DEFINITION_PROPERTIES,
    )


async def definition_create(req: GraphRequest) -> Response:
    _require_app_only(req, TASK_DEFINITIONS)
    store, tenant = _tenant(req)
    body = await _body(req)
    display_name = body.get("displayName")
    if not isinstance(display_name, str) or not display_name.strip():
        raise bad_request("The property 'displayName' is required.")
    created_by = body.get("createdBy")
    app_name = created_by.get("displayName") if isinstance(created_by, dict) else None
    # createdBy.appId is the token's app, whatever the body says.
    definition = store.definition_create(
        tenant,
        app_id=req.caller.app_id,
        display_name=display_name,
        app_name=app_name if isinstance(app_name, str) else None,
    )
    return req.entity("print/taskDefinitions", definition_json(definition), status=201)


def definition_get(req: GraphRequest) -> Response:
    _require_app_only(req, TASK_DEFINITIONS)
    _, tenant = _tenant(req)
    definition = _definition(req, tenant)
    return req.entity("print/taskDefinitions", definition_json(definition))


def definition_delete(req: GraphRequest) -> Response:
    _require_app_only(req, TASK_DEFINITIONS)
    store, tenant = _tenant(req)
    definition = _definition(req, tenant)
    if definition.app_id != req.caller.app_id:
        raise scope_refused()
    if any(t.definition_id == definition.id for t in tenant.triggers.values()):
        raise invalid_operation("Task triggers refer to this task definition. Delete them first.")
    with store.state.lock:
        tenant.definitions.pop(definition.id, None)
    return Response(status_code=204, headers=req.headers())


def tasks_list(req: GraphRequest) -> Response:
    _require_app_only(req, TASK_DEFINITIONS)
    req.reject_options(_NOT_ON_TASK_LISTS, "this request")
    _, tenant = _tenant(req)
    definition = _definition(req, tenant)
    tasks = sorted((t for t in tenant.tasks.values() if t.definition_id == definition.id), key=lambda t: t.created_at)
    context = req.context(f"print/taskDefinitions('{definition.id}')/tasks")
    items = [task_json(req, t) for t in tasks]
    return _page(req, kind=f"tasks:{definition.id}", context=context, items=items, top=100, known=TASK_PROPERTIES)


def task_get(req: GraphRequest) -> Response:
    _require_app_only(req, TASK_DEFINITIONS)
    _, tenant = _tenant(req)
    definition = _definition(req, tenant)
    task = _task(req, tenant, definition)
    return req.entity(f"print/taskDefinitions('{definition.id}')/tasks", task_json(req, task))


async def task_update(req: GraphRequest) -> Response:
    _require_app_only(req, TASK_DEFINITIONS)
    store, tenant = _tenant(req)
    definition = _definition(req, tenant)
    task = _task(req, tenant, definition)
    if definition.app_id != req.caller.app_id:
        raise scope_refused()
    status = (await _body(req)).get("status")
    if not isinstance(status, dict):
        raise bad_request("The property 'status' is required.")
    state = status.get("state")
    if state not in (TASK_COMPLETED, TASK_ABORTED):
        raise bad_request(f"Invalid value '{state}' for the task state: use 'completed' or 'aborted'.")
    if task.state in TASK_FINAL_STATES:
        raise invalid_operation(f"The task is already {task.state}.")
    description = status.get("description") if isinstance(status.get("description"), str) else None
    store.task_finish(tenant, task, state, description)
    return req.entity(f"print/taskDefinitions('{definition.id}')/tasks", task_json(req, task))


# --- task triggers ------------------------------------------------------------------------------------------------


def triggers_list(req: GraphRequest) -> Response:
    _require_delegated(req, TRIGGERS_READ)
    req.reject_options(_NOT_ON_TASK_LISTS, "this request")
    _, tenant = _tenant(req)
    printer = _printer(req, tenant)
    expand = _expand(req, ("definition",))
    items = [trigger_json(t, tenant, expand) for t in tenant.triggers.values() if t.printer_id == printer.id]
    context = req.context(f"print/printers('{printer.id}')/taskTriggers")
    return _page(req, kind=f"triggers:{printer.id}", context=context, items=items, top=100, known=TRIGGER_PROPERTIES)


def trigger_get(req: GraphRequest) -> Response:
    _require_delegated(req, TRIGGERS_READ)
    _, tenant = _tenant(req)
    printer = _printer(req, tenant)
    trigger = _trigger(req, tenant, printer)
    return req.entity(
        f"print/printers('{printer.id}')/taskTriggers", trigger_json(trigger, tenant, _expand(req, ("definition",)))
    )


async def trigger_create(req: GraphRequest) -> Response:
    _require_delegated(req, TRIGGERS_WRITE)
    store, tenant = _tenant(req)
    printer = _printer(req, tenant)
    body = await _body(req)
    if body.get("event") != JOB_STARTED:
        raise bad_request(f"Invalid value '{body.get('event')}' for the property 'event': use '{JOB_STARTED}'.")
    bind = body.get("definition@odata.bind")
    match = _DEFINITION_BIND.search(bind) if isinstance(bind, str) else None
    if match is None:
        raise bad_request("The property 'definition@odata.bind' must be the URL of a task definition.")
    definition = tenant.definitions.get(match.group("id").lower())
    if definition is None or definition.app_id != req.caller.app_id:
        raise GraphError(400, "400", "Invalid Operation:No Task definition object found with given parameters.")
    with store.state.lock:
        if tenant.trigger_of(printer.id) is not None:
            raise invalid_operation(
                f"There is a task trigger already created for the printer {printer.id}. Multiple task triggers per "
                "printer is not supported."
            )
        trigger = store.trigger_create(tenant, printer, definition)
    return req.entity(f"print/printers('{printer.id}')/taskTriggers", trigger_json(trigger, tenant, ()), status=201)


def trigger_delete(req: GraphRequest) -> Response:
    _require_delegated(req, TRIGGERS_WRITE)
    store, tenant = _tenant(req)
    printer = _printer(req, tenant)
    trigger = _trigger(req, tenant, printer)
    definition = tenant.definitions.get(trigger.definition_id)
    if definition is not None and definition.app_id != req.caller.app_id:
        raise scope_refused()
    with store.state.lock:
        tenant.triggers.pop(trigger.id, None)
    return Response(status_code=204, headers=req.headers())


def _trigger(req: GraphRequest, tenant: TenantPrint, printer: Printer) -> TaskTrigger:
    return _path_object(
        req, "trigger", "task trigger", tenant.triggers.get, belongs=lambda trigger: trigger.printer_id == printer.id
    )


def _require_delegated(req: GraphRequest, permissions: Permissions) -> None:
    """Task triggers: a Printer Administrator signed in to the app; application permissions are not supported."""
    if req.caller.app_only:
        raise scope_refused()
    _require(req, permissions, admin=True)


# --- jobs and documents -------------------------------------------------------------------------------------------


def _require_jobs(req: GraphRequest, permissions: Permissions) -> None:
    _require(req, permissions)
    if req.caller.app_only and not req.caller.holds(GET_PRINTER_ACCESS):
        raise scope_refused()


def jobs_list(req: GraphRequest) -> Response:
    _require_jobs(req, JOBS_READ)
    req.reject_options(("$count", "$search"), "this request")
    _, tenant = _tenant(req)
    printer = _printer(req, tenant)
    expand = _expand(req, ("documents", "tasks"))
    items = [job_json(req, j, tenant, expand) for j in tenant.jobs_of(printer.id) if _sees_job(req, j)]
    context = req.context(f"print/printers('{printer.id}')/jobs")
    return _page(req, kind=f"jobs:{printer.id}", context=context, items=items, top=req.top(), known=JOB_PROPERTIES)


def job_get(req: GraphRequest) -> Response:
    _require_jobs(req, JOBS_READ)
    _, tenant = _tenant(req)
    printer = _printer(req, tenant)
    job = _job(req, tenant, printer)
    body = job_json(req, job, tenant, _expand(req, ("documents", "tasks")))
    return req.entity(f"print/printers('{printer.id}')/jobs", body)


def documents_list(req: GraphRequest) -> Response:
    _require_jobs(req, JOBS_READ)
    _, tenant = _tenant(req)
    printer = _printer(req, tenant)
    job = _job(req, tenant, printer)
    context = req.context(f"print/printers('{printer.id}')/jobs('{job.id}')/documents")
    return req.page(context=context, items=[document_json(d) for d in job.documents])


def document_get(req: GraphRequest) -> Response:
    _require_jobs(req, JOBS_READ)
    _, tenant = _tenant(req)
    printer = _printer(req, tenant)
    document = _document(req, _job(req, tenant, printer))
    return req.entity(f"print/printers('{printer.id}')/jobs/documents", document_json(document))


def document_value(req: GraphRequest) -> Response:
    """``302 Found`` to a pre-authenticated URL that serves the bytes."""
    _require_jobs(req, JOB_CONTENT)
    store, tenant = _tenant(req)
    printer = _printer(req, tenant)
    job = _job(req, tenant, printer)
    download = store.download_create(tenant, job, _document(req, job))
    location = (
        f"{req.request.url.scheme}://{req.request.url.netloc}{DOWNLOAD_PATH}/{download.id}"
        f"?tempauthtoken={download.secret}"
    )
    return Response(status_code=302, headers=req.headers({"Location": location}))


async def job_abort(req: GraphRequest) -> Response:
    _require_app_only(req, JOB_ABORT)
    if not req.caller.holds(GET_PRINTER_ACCESS):
        raise scope_refused()
    store, tenant = _tenant(req)
    printer = _printer(req, tenant)
    job = _job(req, tenant, printer)
    raw = await req.request.body()
    reason = (await _body(req)).get("reason") if raw.strip() else None
    task = next((t for t in tenant.tasks_of_job(printer.id, job.id) if _held_by_caller(req, tenant, t)), None)
    if task is None:
        raise invalid_operation("The print job has no print task in processing state started by this application.")
    store.job_abort(tenant, job, task, reason if isinstance(reason, str) else None)
    return Response(status_code=204, headers=req.headers())


def _held_by_caller(req: GraphRequest, tenant: TenantPrint, task: Task) -> bool:
    definition = tenant.definitions.get(task.definition_id)
    return task.state == TASK_PROCESSING and definition is not None and definition.app_id == req.caller.app_id


# --- the pre-authenticated download -------------------------------------------------------------------------------


async def download(request: Request) -> Response:
    """The bytes of a document, for the holder of a link ``$value`` gave (no bearer token, none accepted)."""
    if request.headers.get("authorization"):
        return Response("AuthenticationFailed", status_code=401, media_type="text/plain")
    store = print_store(emulator_state(request))
    document = store.download_document(request.path_params["download"], request.query_params.get("tempauthtoken", ""))
    if document is None:
        return Response("AuthenticationFailed", status_code=403, media_type="text/plain")
    return Response(
        document.data,
        media_type=document.content_type,
        headers={"Content-Disposition": f'attachment; filename="{_header_safe(document.display_name)}"'},
    )


def _header_safe(name: str) -> str:
    return "".join(c for c in name if c.isprintable() and c not in '"\\') or "document"


_PRINTER = "/print/printers/{printer}"
_JOB = _PRINTER + "/jobs/{job}"
_DEFINITION = "/print/taskDefinitions/{definition}"

routes = [
    graph_route("/print/printers", printers_list),
    graph_route(_PRINTER, printer_get),
    graph_route(_PRINTER + "/taskTriggers", triggers_list),
    graph_route(_PRINTER + "/taskTriggers", trigger_create, ("POST",)),
    graph_route(_PRINTER + "/taskTriggers/{trigger}", trigger_get),
    graph_route(_PRINTER + "/taskTriggers/{trigger}", trigger_delete, ("DELETE",)),
    graph_route(_PRINTER + "/jobs", jobs_list),
    graph_route(_JOB, job_get),
    graph_route(_JOB + "/abort", job_abort, ("POST",)),
    graph_route(_JOB + "/documents", documents_list),
    graph_route(_JOB + "/documents/{document}", document_get),
    graph_route(_JOB + "/documents/{document}/$value", document_value),
    graph_route("/print/shares", shares_list),
    graph_route("/print/shares/{share}", share_get),
    graph_route("/print/taskDefinitions", definitions_list),
    graph_route("/print/taskDefinitions", definition_create, ("POST",)),
    graph_route(_DEFINITION, definition_get),
    graph_route(_DEFINITION, definition_delete, ("DELETE",)),
    graph_route(_DEFINITION + "/tasks", tasks_list),
    graph_route(_DEFINITION + "/tasks/{task}", task_get),
    graph_route(_DEFINITION + "/tasks/{task}", task_update, ("PATCH",)),
]
download_routes = [Route(DOWNLOAD_PATH + "/{download}", download, methods=["GET"])]
