"""``/_control/graph/print/...``: add printers and shares, submit jobs as directory users, inspect the print flow.

Printers are named by id, display name or the display name of one of their shares; users by object id or UPN;
``tenant_id`` is a directory's GUID or one of its domains. See docs/emulator.md, and
``m365_emulator.testing.EmulatorControl`` for the Python helpers.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any

from starlette.routing import Route

from m365_emulator.control import ControlError, Handler, control_route, guarded, required_text
from m365_emulator.graph.print_store import (
    Document,
    Job,
    Printer,
    PrintError,
    PrintStore,
    Task,
    TenantPrint,
    print_store,
)
from m365_emulator.graph.universal_print import definition_json, document_json
from m365_emulator.seed import User
from m365_emulator.state import State

# A document a test does not care about: the smallest PDF a viewer opens.
DEFAULT_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024


def _tenant(state: State, payload: dict[str, Any]) -> tuple[PrintStore, TenantPrint]:
    tenant_id = required_text(payload, "tenant_id")
    store = print_store(state)
    return store, store.tenant(tenant_id)


def _user(state: State, tenant: TenantPrint, reference: str) -> User:
    lowered = reference.strip().lower()
    user = state.user_by_reference(lowered)
    if user is None or user.directory != tenant.tenant_id:
        raise LookupError(f"no user {reference} in {tenant.tenant_id}")
    return user


# --- views ---------------------------------------------------------------------------------------------------------


def _printer_view(tenant: TenantPrint, printer: Printer) -> dict[str, Any]:
    trigger = tenant.trigger_of(printer.id)
    definition = tenant.definitions.get(trigger.definition_id) if trigger else None
    return {
        "id": printer.id,
        "displayName": printer.display_name,
        "manufacturer": printer.manufacturer,
        "model": printer.model,
        "location": printer.location,
        "hasPhysicalDevice": printer.has_physical_device,
        "isAcceptingJobs": printer.is_accepting_jobs,
        "shares": [{"id": s.id, "displayName": s.display_name} for s in tenant.shares_of(printer.id)],
        "trigger": (
            {
                "id": trigger.id,
                "event": trigger.event,
                "definition_id": trigger.definition_id,
                "app_id": definition.app_id if definition else None,
            }
            if trigger
            else None
        ),
        "jobs": len(tenant.jobs_of(printer.id)),
    }


def _job_view(tenant: TenantPrint, job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "printer_id": job.printer_id,
        "share_id": job.share_id,
        "createdBy": {
            "id": job.created_by.id,
            "userPrincipalName": job.created_by.user_principal_name,
            "displayName": job.created_by.display_name,
        },
        "createdDateTime": job.created,
        "status": {"state": job.state, "description": job.description, "details": list(job.details)},
        "isFetchable": job.fetchable,
        "documents": [document_json(d) for d in job.documents],
        "tasks": [_task_view(t) for t in tenant.tasks_of_job(job.printer_id, job.id)],
    }


def _task_view(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "definition_id": task.definition_id,
        "trigger_id": task.trigger_id,
        "printer_id": task.printer_id,
        "job_id": task.job_id,
        "status": {"state": task.state, "description": task.description},
    }


# --- printers and shares ------------------------------------------------------------------------------------------


def printers(state: State, payload: dict[str, Any]) -> list[dict[str, Any]]:
    _, tenant = _tenant(state, payload)
    return [_printer_view(tenant, p) for p in tenant.printers.values()]


def printer_add(state: State, payload: dict[str, Any]) -> dict[str, Any]:
    """A printer, and a share of the same name unless ``share`` says otherwise (``false``: none)."""
    store, tenant = _tenant(state, payload)
    printer = store.printer_add(tenant, payload)
    share = payload.get("share", {"displayName": printer.display_name})
    if share:
        store.share_add(tenant, printer, share if isinstance(share, dict) else {"displayName": str(share)})
    return _printer_view(tenant, printer)


def printer_update(state: State, payload: dict[str, Any]) -> dict[str, Any]:
    store, tenant = _tenant(state, payload)
    printer = store.require_printer(tenant, required_text(payload, "printer"))
    store.printer_update(tenant, printer, payload)
    return _printer_view(tenant, printer)


def printer_delete(state: State, payload: dict[str, Any]) -> dict[str, Any]:
    store, tenant = _tenant(state, payload)
    printer = store.require_printer(tenant, required_text(payload, "printer"))
    store.printer_delete(tenant, printer)
    return {"id": printer.id}


def share_add(state: State, payload: dict[str, Any]) -> dict[str, Any]:
    store, tenant = _tenant(state, payload)
    printer = store.require_printer(tenant, required_text(payload, "printer"))
    share = store.share_add(tenant, printer, payload)
    return {"id": share.id, "displayName": share.display_name, "printer_id": printer.id}


# --- jobs, tasks, triggers, definitions ---------------------------------------------------------------------------


def job_submit(state: State, payload: dict[str, Any]) -> dict[str, Any]:
    """``user`` prints a document to ``printer``: ``document`` is base64 bytes (a small PDF when absent)."""
    store, tenant = _tenant(state, payload)
    reference = required_text(payload, "printer")
    printer = store.require_printer(tenant, reference)
    share = next((s for s in tenant.shares_of(printer.id) if s.display_name.lower() == reference.lower()), None)
    user = _user(state, tenant, required_text(payload, "user"))
    document = Document(
        id=str(uuid.uuid4()),
        display_name=str(payload.get("name") or "Document.pdf"),
        content_type=str(payload.get("content_type") or "application/pdf"),
        data=_document_bytes(payload),
    )
    configuration = payload.get("configuration") if isinstance(payload.get("configuration"), dict) else None
    job = store.job_submit(tenant, printer, user, document, share=share, configuration=configuration)
    return _job_view(tenant, job)


def _document_bytes(payload: dict[str, Any]) -> bytes:
    if payload.get("document") is None:
        return DEFAULT_PDF
    try:
        data = base64.b64decode(str(payload["document"]), validate=True)
    except (binascii.Error, ValueError):
        raise ControlError("document must be base64") from None
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ControlError(f"documents are limited to {MAX_DOCUMENT_BYTES} bytes here")
    return data


def jobs(state: State, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Jobs (of one printer with ``printer``), oldest first, with their documents and tasks."""
    store, tenant = _tenant(state, payload)
    printer_id = store.require_printer(tenant, str(payload["printer"])).id if payload.get("printer") else None
    return [_job_view(tenant, j) for (pid, _), j in tenant.jobs.items() if printer_id in (None, pid)]


def job(state: State, payload: dict[str, Any]) -> dict[str, Any]:
    store, tenant = _tenant(state, payload)
    printer = store.require_printer(tenant, required_text(payload, "printer"))
    found = tenant.jobs.get((printer.id, required_text(payload, "job")))
    if found is None:
        raise LookupError(f"no job {payload['job']} on {printer.display_name}")
    return _job_view(tenant, found)


def tasks(state: State, payload: dict[str, Any]) -> list[dict[str, Any]]:
    _, tenant = _tenant(state, payload)
    return [_task_view(t) for t in sorted(tenant.tasks.values(), key=lambda t: t.created_at)]


def triggers(state: State, payload: dict[str, Any]) -> list[dict[str, Any]]:
    _, tenant = _tenant(state, payload)
    result = []
    for trigger in tenant.triggers.values():
        definition = tenant.definitions.get(trigger.definition_id)
        result.append(
            {
                "id": trigger.id,
                "printer_id": trigger.printer_id,
                "event": trigger.event,
                "definition_id": trigger.definition_id,
                "app_id": definition.app_id if definition else None,
            }
        )
    return result


def trigger_add(state: State, payload: dict[str, Any]) -> dict[str, Any]:
    """Another app's trigger on a printer (as an administrator would have made it in that app)."""
    store, tenant = _tenant(state, payload)
    printer = store.require_printer(tenant, required_text(payload, "printer"))
    app_id = required_text(payload, "app_id").lower()
    if tenant.trigger_of(printer.id) is not None:
        raise ControlError(f"printer {printer.display_name} has a trigger already")
    definition = next((d for d in tenant.definitions.values() if d.app_id == app_id), None)
    if definition is None:
        name = str(payload.get("definition_name") or "Pull printing")
        definition = store.definition_create(tenant, app_id=app_id, display_name=name, app_name=None)
    trigger = store.trigger_create(tenant, printer, definition)
    return {"id": trigger.id, "printer_id": printer.id, "definition_id": definition.id, "app_id": app_id}


def definitions(state: State, payload: dict[str, Any]) -> list[dict[str, Any]]:
    _, tenant = _tenant(state, payload)
    return [definition_json(d) for d in tenant.definitions.values()]


def _route(path: str, handler: Handler, method: str = "POST") -> Route:
    return control_route(f"graph/print/{path}", guarded(handler, PrintError), method)


routes = [
    _route("printers", printers, "GET"),
    _route("printers", printer_add),
    _route("printers/update", printer_update),
    _route("printers/delete", printer_delete),
    _route("shares", share_add),
    _route("jobs", jobs, "GET"),
    _route("jobs", job_submit),
    _route("job", job, "GET"),
    _route("tasks", tasks, "GET"),
    _route("triggers", triggers, "GET"),
    _route("triggers", trigger_add),
    _route("definitions", definitions, "GET"),
]
