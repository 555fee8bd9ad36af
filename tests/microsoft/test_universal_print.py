"""microsoft.universal_print over real HTTPS against the emulator.

App-only tokens come from MSAL's client credentials (microsoft.identity), the delegated one from a Printer
Administrator's browser sign-in (authorization code + PKCE) to the same app, as the feature will get them.
"""

from __future__ import annotations

import io
import os
from typing import Any

import pytest

from microsoft import errors, identity
from microsoft import universal_print as up
from microsoft.config import AppCredentials
from tests.microsoft.conftest import CONTOSO, CONTOSO_ADMIN, CONTOSO_USER, GRAPH_DEFAULT, REDIRECT_URI, Browser

pytestmark = pytest.mark.emulator

PRINT_APP = AppCredentials(client_id="7e570009-0000-4000-8000-000000000009", client_secret="print~Secret.Value.0009")
OTHER_PRINT_APP = AppCredentials(
    client_id="7e57000a-0000-4000-8000-00000000000a", client_secret="otherprint~Secret.Value.000a"
)
BASIC_PRINT_APP = AppCredentials(
    client_id="7e57000b-0000-4000-8000-00000000000b", client_secret="printbasic~Secret.Value.000b"
)
SECURE_PRINT = "a1b2c3d4-2001-4000-8000-00000000c201"
FLOOR_2_MFP = "a1b2c3d4-2002-4000-8000-00000000c202"
ADELE_ID = "a1b2c3d4-0002-4000-8000-00000000c002"
DOCUMENT = b"%PDF-1.7\n" + os.urandom(300_000) + b"\n%%EOF\n"


def app_token(app: AppCredentials = PRINT_APP) -> str:
    return identity.client_credentials_acquire(app=app, tenant=CONTOSO, scope=GRAPH_DEFAULT).access_token


def admin_token(person: Browser, app: AppCredentials = PRINT_APP, user: tuple[str, str] = CONTOSO_ADMIN) -> str:
    """A delegated token of ``user`` signed in to ``app`` in a browser, for Universal Print's delegated calls."""
    started = identity.auth_code_start(
        app=app, tenant="organizations", scopes=up.DELEGATED_SCOPES, redirect_uri=REDIRECT_URI, login_hint=user[0]
    )
    callback = person.sign_in(started.auth_uri, *user)
    grant = identity.auth_code_finish(
        app=app, tenant="organizations", flow=started.flow, callback_params=callback, expected_tenant_id=CONTOSO
    )
    return grant.access_token


def take_printer(person: Browser, printer_id: str = SECURE_PRINT) -> tuple[str, up.TaskDefinition]:
    """The print app's definition and its trigger on ``printer_id``; the app-only token."""
    token = app_token()
    definition = up.task_definition_ensure(token=token, app_id=PRINT_APP.client_id, display_name="Roger")
    up.task_trigger_create(token=admin_token(person), printer_id=printer_id, definition_id=definition.id)
    return token, definition


def graph_requests(m365: Any) -> list[dict[str, Any]]:
    return m365.control.requests_received("graph")


# --- printers and shares --------------------------------------------------------------------------------------------


def test_printers_and_shares_are_read_with_the_administrators_token(m365: Any, person: Browser) -> None:
    delegated = admin_token(person)

    printers = {p.id: p for p in up.printers_list(token=delegated)}
    shares = {s.display_name: s for s in up.shares_list(token=delegated)}

    assert printers[SECURE_PRINT] == up.Printer(
        id=SECURE_PRINT,
        display_name="Contoso Secure Print",
        location="Contoso HQ, Floor 1, Reception, Redmond",
        manufacturer="Contoso",
        model="Virtual pull-print queue",
        is_shared=True,
        is_accepting_jobs=True,
        has_physical_device=False,
    )
    assert printers[FLOOR_2_MFP].has_physical_device is True
    assert shares["Secure Print (Follow-Me)"].printer_id == SECURE_PRINT
    assert shares["HQ Floor 2 Color"].printer_id == FLOOR_2_MFP


def test_printers_are_not_listed_app_only_but_one_is_read(m365: Any) -> None:
    token = app_token()

    with pytest.raises(errors.PermissionMissing) as raised:
        up.printers_list(token=token)
    printer = up.printer_get(token=token, printer_id=FLOOR_2_MFP)

    assert "Printer Administrator" in raised.value.explanation and raised.value.status == 403
    assert printer.display_name == "HQ Floor 2 MFP" and printer.location.startswith("Contoso HQ, Floor 2")
    with pytest.raises(errors.ResourceNotFound, match="printer"):
        up.printer_get(token=token, printer_id="00000000-0000-4000-8000-000000000000")


# --- the task definition and triggers -------------------------------------------------------------------------------


def test_the_task_definition_is_made_once_per_app(m365: Any) -> None:
    other = up.task_definition_create(token=app_token(OTHER_PRINT_APP), display_name="Another service")
    token = app_token()

    first = up.task_definition_ensure(token=token, app_id=PRINT_APP.client_id, display_name="Roger")
    second = up.task_definition_ensure(token=token, app_id=PRINT_APP.client_id, display_name="Roger")

    assert first == second and first.app_id == PRINT_APP.client_id and first.display_name == "Roger"
    assert other.app_id == OTHER_PRINT_APP.client_id
    assert {d.id for d in up.task_definitions_list(token=token)} == {first.id, other.id}
    assert up.task_definition_delete(token=token, definition_id=first.id) is True
    assert up.task_definition_delete(token=token, definition_id=first.id) is False
    assert up.task_definition_find(token=token, app_id=PRINT_APP.client_id) is None


def test_a_printer_is_turned_on_and_off_with_a_delegated_token_only(m365: Any, person: Browser) -> None:
    token = app_token()
    definition = up.task_definition_ensure(token=token, app_id=PRINT_APP.client_id, display_name="Roger")
    delegated = admin_token(person)

    with pytest.raises(errors.PermissionMissing) as app_only:
        up.task_trigger_create(token=token, printer_id=SECURE_PRINT, definition_id=definition.id)
    trigger = up.task_trigger_create(token=delegated, printer_id=SECURE_PRINT, definition_id=definition.id)
    again = up.task_trigger_create(token=delegated, printer_id=SECURE_PRINT, definition_id=definition.id)

    assert "application permissions cannot manage task triggers" in app_only.value.explanation
    assert (again.id, again.definition_id) == (trigger.id, trigger.definition_id) == (trigger.id, definition.id)
    assert trigger.event == "jobStarted" and trigger.printer_id == SECURE_PRINT
    [listed] = up.task_triggers_list(token=delegated, printer_id=SECURE_PRINT)
    assert (listed.id, listed.definition_id, listed.app_id) == (trigger.id, definition.id, PRINT_APP.client_id)
    with pytest.raises(errors.PrintOperationRefused):
        up.task_definition_delete(token=token, definition_id=definition.id)
    assert up.task_trigger_delete(token=delegated, printer_id=SECURE_PRINT, trigger_id=trigger.id) is True
    assert up.task_trigger_delete(token=delegated, printer_id=SECURE_PRINT, trigger_id=trigger.id) is False
    assert m365.control.print_triggers(CONTOSO) == []


def test_a_printer_held_by_another_app_says_which(m365: Any, person: Browser) -> None:
    m365.control.add_print_trigger(CONTOSO, SECURE_PRINT, OTHER_PRINT_APP.client_id)
    definition = up.task_definition_ensure(token=app_token(), app_id=PRINT_APP.client_id, display_name="Roger")

    with pytest.raises(errors.PrintOperationRefused) as raised:
        up.task_trigger_create(token=admin_token(person), printer_id=SECURE_PRINT, definition_id=definition.id)

    assert raised.value.app_id == OTHER_PRINT_APP.client_id and raised.value.status == 400
    assert "another application" in raised.value.explanation


def test_a_trigger_for_a_definition_that_is_gone_is_not_found(m365: Any, person: Browser) -> None:
    with pytest.raises(errors.ResourceNotFound, match="task definition"):
        up.task_trigger_create(
            token=admin_token(person), printer_id=SECURE_PRINT, definition_id="00000000-0000-4000-8000-000000000000"
        )


def test_a_user_who_is_not_a_printer_administrator_cannot_turn_printers_on(m365: Any, person: Browser) -> None:
    definition = up.task_definition_ensure(token=app_token(), app_id=PRINT_APP.client_id, display_name="Roger")

    with pytest.raises(errors.PermissionMissing) as raised:
        up.task_trigger_create(
            token=admin_token(person, user=CONTOSO_USER), printer_id=SECURE_PRINT, definition_id=definition.id
        )

    assert "Printer Administrator" in raised.value.explanation


# --- a job's way through ------------------------------------------------------------------------------------------


def test_a_submitted_job_becomes_a_pending_task_and_completing_it_moves_the_job_on(m365: Any, person: Browser) -> None:
    token, definition = take_printer(person)
    submitted = m365.control.submit_print_job(CONTOSO, "Secure Print (Follow-Me)", CONTOSO_USER[0], DOCUMENT, "Q3.pdf")

    [task] = up.tasks_pending(token=token, definition_id=definition.id)
    job = up.job_get(token=token, printer_id=task.printer_id or "", job_id=task.job_id or "")
    [document] = job.documents
    file = io.BytesIO()
    m365.control.clear_requests()
    written = up.document_download(
        token=token,
        printer_id=job.printer_id,
        job_id=job.id,
        document_id=document.id,
        destination=file,
        max_bytes=10**6,
    )
    downloads = m365.control.requests_received("print_download")
    value_request = graph_requests(m365)[0]
    completed = up.task_complete(
        token=token, definition_id=definition.id, task_id=task.id, description="Held in Roger for release"
    )

    assert task.state == up.TaskState.PROCESSING and task.printer_id == SECURE_PRINT
    assert task.job_id == submitted["id"]
    assert job.created_by == up.JobCreator(ADELE_ID, CONTOSO_USER[0], "Adele Vance")
    assert job.state == up.JobState.PAUSED and job.created_at is not None
    assert (document.display_name, document.content_type, document.size) == ("Q3.pdf", "application/pdf", len(DOCUMENT))
    assert written == len(DOCUMENT) and file.getvalue() == DOCUMENT
    assert value_request["path"].endswith("/$value") and value_request["status"] == 302
    assert value_request["headers"]["authorization"].startswith("Bearer ")
    assert [d["status"] for d in downloads] == [200] and "authorization" not in downloads[0]["headers"]
    assert completed.state == up.TaskState.COMPLETED and completed.description == "Held in Roger for release"
    assert up.tasks_pending(token=token, definition_id=definition.id) == []
    assert m365.control.print_job(CONTOSO, SECURE_PRINT, submitted["id"])["status"]["state"] == "completed"


def test_completing_a_task_twice_is_harmless(m365: Any, person: Browser) -> None:
    token, definition = take_printer(person)
    m365.control.submit_print_job(CONTOSO, SECURE_PRINT, CONTOSO_USER[0])
    [task] = up.tasks_pending(token=token, definition_id=definition.id)
    up.task_complete(token=token, definition_id=definition.id, task_id=task.id, description="Held in Roger")

    again = up.task_complete(token=token, definition_id=definition.id, task_id=task.id, description="Held in Roger")
    late_abort = up.task_abort(token=token, definition_id=definition.id, task_id=task.id, description="too late")

    assert again.state == up.TaskState.COMPLETED and late_abort.state == up.TaskState.COMPLETED
    assert again.description == "Held in Roger"


def test_a_task_aborted_aborts_its_job_with_the_reason(m365: Any, person: Browser) -> None:
    token, definition = take_printer(person)
    submitted = m365.control.submit_print_job(CONTOSO, SECURE_PRINT, CONTOSO_USER[0])
    [task] = up.tasks_pending(token=token, definition_id=definition.id)

    aborted = up.task_abort(
        token=token, definition_id=definition.id, task_id=task.id, description="You have no account in Roger."
    )

    job = up.job_get(token=token, printer_id=SECURE_PRINT, job_id=submitted["id"])
    assert aborted.state == up.TaskState.ABORTED
    assert job.state == up.JobState.ABORTED and job.description == "You have no account in Roger."


def test_a_job_is_aborted_while_held_and_not_after(m365: Any, person: Browser) -> None:
    token, definition = take_printer(person)
    submitted = m365.control.submit_print_job(CONTOSO, SECURE_PRINT, CONTOSO_USER[0])

    up.job_abort(token=token, printer_id=SECURE_PRINT, job_id=submitted["id"], reason="This document type is refused.")
    with pytest.raises(errors.PrintOperationRefused):
        up.job_abort(token=token, printer_id=SECURE_PRINT, job_id=submitted["id"], reason="again")

    job = up.job_get(token=token, printer_id=SECURE_PRINT, job_id=submitted["id"])
    assert job.state == up.JobState.ABORTED and job.description == "This document type is refused."
    assert up.tasks_pending(token=token, definition_id=definition.id) == []


def test_many_pending_tasks_are_read_over_pages(m365: Any, person: Browser) -> None:
    token, definition = take_printer(person)
    for _ in range(105):
        m365.control.submit_print_job(CONTOSO, SECURE_PRINT, CONTOSO_USER[0])
    m365.control.clear_requests()

    tasks = up.tasks_pending(token=token, definition_id=definition.id)

    assert sorted(int(t.job_id or 0) for t in tasks) == list(range(1, 106))
    assert len(graph_requests(m365)) == 2  # a page of 100 and its next link


# --- documents -----------------------------------------------------------------------------------------------------


def test_a_document_over_the_limit_stops_the_download(m365: Any) -> None:
    submitted = m365.control.submit_print_job(CONTOSO, SECURE_PRINT, CONTOSO_USER[0], DOCUMENT)
    file = io.BytesIO()

    with pytest.raises(errors.ContentTooLarge) as raised:
        up.document_download(
            token=app_token(),
            printer_id=SECURE_PRINT,
            job_id=submitted["id"],
            document_id=submitted["documents"][0]["id"],
            destination=file,
            max_bytes=100_000,
        )

    assert raised.value.limit == 100_000 and raised.value.size == len(DOCUMENT)
    assert file.getvalue() == b""  # refused on the announced length, before reading


def test_content_needs_print_job_read(m365: Any) -> None:
    submitted = m365.control.submit_print_job(CONTOSO, SECURE_PRINT, CONTOSO_USER[0])
    basic = app_token(BASIC_PRINT_APP)  # PrintJob.ReadBasic.All

    job = up.job_get(token=basic, printer_id=SECURE_PRINT, job_id=submitted["id"])
    with pytest.raises(errors.PermissionMissing) as raised:
        up.document_download(
            token=basic,
            printer_id=SECURE_PRINT,
            job_id=job.id,
            document_id=job.documents[0].id,
            destination=io.BytesIO(),
            max_bytes=10**6,
        )

    assert "PrintJob.Read.All" in raised.value.explanation


def test_a_printers_jobs_are_listed_by_who_printed_them(m365: Any) -> None:
    m365.control.submit_print_job(CONTOSO, SECURE_PRINT, CONTOSO_USER[0])
    m365.control.submit_print_job(CONTOSO, SECURE_PRINT, CONTOSO_ADMIN[0])
    token = app_token()

    everyone = up.jobs_list(token=token, printer_id=SECURE_PRINT)
    adele = up.jobs_list(token=token, printer_id=SECURE_PRINT, created_by=CONTOSO_USER[0])

    assert [(j.id, j.created_by.user_principal_name) for j in everyone] == [
        ("1", CONTOSO_USER[0]),
        ("2", CONTOSO_ADMIN[0]),
    ]
    assert [j.id for j in adele] == ["1"] and adele[0].documents[0].content_type == "application/pdf"
    assert up.jobs_list(token=token, printer_id=SECURE_PRINT, created_by="o'brien@contoso.onmicrosoft.com") == []


def test_a_job_that_is_gone_is_not_found(m365: Any) -> None:
    with pytest.raises(errors.ResourceNotFound, match="print job"):
        up.job_get(token=app_token(), printer_id=SECURE_PRINT, job_id="999")


# --- throttling ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_throttling_is_left_to_the_caller_with_retry_after(m365: Any, person: Browser, status: int) -> None:
    token, definition = take_printer(person)
    m365.control.submit_print_job(CONTOSO, SECURE_PRINT, CONTOSO_USER[0])
    m365.control.clear_requests()
    m365.control.inject_fault("graph", status=status, retry_after=30)

    with pytest.raises(errors.TransientError) as raised:
        up.tasks_pending(token=token, definition_id=definition.id)
    [task] = up.tasks_pending(token=token, definition_id=definition.id)  # the caller's retry, once it is time

    assert raised.value.retry_after == 30.0 and raised.value.status == status
    assert [r["status"] for r in graph_requests(m365)] == [status, 200]
    assert task.state == up.TaskState.PROCESSING


def test_a_throttled_download_link_is_transient(m365: Any) -> None:
    submitted = m365.control.submit_print_job(CONTOSO, SECURE_PRINT, CONTOSO_USER[0])
    m365.control.inject_fault("print_download", status=503, retry_after=5)

    with pytest.raises(errors.TransientError) as raised:
        up.document_download(
            token=app_token(),
            printer_id=SECURE_PRINT,
            job_id=submitted["id"],
            document_id=submitted["documents"][0]["id"],
            destination=io.BytesIO(),
            max_bytes=10**6,
        )

    assert raised.value.retry_after == 5.0 and raised.value.error == "download_unavailable"
