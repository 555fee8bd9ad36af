"""The emulator's Universal Print: wire formats, who may call what, and a job following its task."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from m365_emulator.testing import EmulatorHandle
from tests.emulator.conftest import (
    CONTOSO,
    CONTOSO_ADMIN,
    CONTOSO_USER,
    GUID,
    READER_APP,
    app_token,
    assert_graph_error,
    graph,
    graph_client,
    public_app,
)

pytestmark = pytest.mark.emulator

PRINT_APP, PRINT_SECRET = "7e570009-0000-4000-8000-000000000009", "print~Secret.Value.0009"
OTHER_PRINT_APP, OTHER_PRINT_SECRET = "7e57000a-0000-4000-8000-00000000000a", "otherprint~Secret.Value.000a"
BASIC_PRINT_APP, BASIC_PRINT_SECRET = "7e57000b-0000-4000-8000-00000000000b", "printbasic~Secret.Value.000b"
SECURE_PRINT = "a1b2c3d4-2001-4000-8000-00000000c201"  # virtual queue, share "Secure Print (Follow-Me)"
FLOOR_2_MFP = "a1b2c3d4-2002-4000-8000-00000000c202"  # has a physical device
ADELE_ID = "a1b2c3d4-0002-4000-8000-00000000c002"
PRINTER_ADMINISTRATOR = "644ef478-e28f-4e28-b9dc-3fdde9aa0b1f"
SCOPE_REFUSED = '"The token does not have one or more required security scopes."'
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 64 + b"\n%%EOF\n"


def print_app(emu: EmulatorHandle, client_id: str = PRINT_APP, secret: str = PRINT_SECRET) -> requests.Session:
    return graph_client(emu, app_token(emu, client_id, secret))


def signed_in(emu: EmulatorHandle, upn: str = CONTOSO_ADMIN[0], client_id: str = PRINT_APP) -> requests.Session:
    """The app's delegated token for ``upn`` (a device code approved on their behalf)."""
    app = public_app(emu, client_id, tenant=CONTOSO)
    flow = app.initiate_device_flow(scopes=["https://graph.microsoft.com/.default"])
    emu.control.approve_device_code(flow["user_code"], upn)
    result: dict[str, Any] = app.acquire_token_by_device_flow(flow, exit_condition=lambda f: True)
    assert "access_token" in result, result
    return graph_client(emu, str(result["access_token"]))


def ok(response: requests.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json() if response.content else {}
    return body


def refused(response: requests.Response) -> None:
    assert_graph_error(response, 403, "UnknownError", SCOPE_REFUSED)


def definition_create(app: requests.Session, emu: EmulatorHandle, name: str = "Roger pull printing") -> str:
    body = {"displayName": name, "createdBy": {"displayName": "Roger"}}
    return str(ok(app.post(graph(emu, "/print/taskDefinitions"), json=body, timeout=10), 201)["id"])


def trigger_create(admin: requests.Session, emu: EmulatorHandle, printer: str, definition: str) -> requests.Response:
    bind = graph(emu, f"/print/taskDefinitions/{definition}")
    body = {"event": "jobStarted", "definition@odata.bind": bind}
    return admin.post(graph(emu, f"/print/printers/{printer}/taskTriggers"), json=body, timeout=10)


def taken_over(emu: EmulatorHandle, printer: str = SECURE_PRINT) -> tuple[requests.Session, str]:
    """The print app's definition with a trigger on ``printer``: the app-only client and the definition id."""
    app = print_app(emu)
    definition = definition_create(app, emu)
    ok(trigger_create(signed_in(emu), emu, printer, definition), 201)
    return app, definition


def tasks_of(app: requests.Session, emu: EmulatorHandle, definition: str) -> list[dict[str, Any]]:
    value: list[dict[str, Any]] = ok(app.get(graph(emu, f"/print/taskDefinitions/{definition}/tasks"), timeout=10))[
        "value"
    ]
    return value


def job_of(app: requests.Session, emu: EmulatorHandle, printer: str, job_id: str, query: str = "") -> dict[str, Any]:
    return ok(app.get(graph(emu, f"/print/printers/{printer}/jobs/{job_id}{query}"), timeout=10))


def finish(app: requests.Session, emu: EmulatorHandle, definition: str, task_id: str, state: str, why: str) -> Any:
    body = {"status": {"state": state, "description": why}}
    return app.patch(graph(emu, f"/print/taskDefinitions/{definition}/tasks/{task_id}"), json=body, timeout=10)


# --- printers and shares ------------------------------------------------------------------------------------------


def test_printers_are_listed_to_a_printer_administrator_signed_in(emu: EmulatorHandle) -> None:
    body = ok(signed_in(emu).get(graph(emu, "/print/printers"), timeout=10))

    assert body["@odata.context"].endswith("/v1.0/$metadata#print/printers")
    printers = {p["id"]: p for p in body["value"]}
    assert set(printers) == {SECURE_PRINT, FLOOR_2_MFP}
    secure = printers[SECURE_PRINT]
    assert secure["displayName"] == "Contoso Secure Print" and secure["isShared"] is True
    assert secure["hasPhysicalDevice"] is False and printers[FLOOR_2_MFP]["hasPhysicalDevice"] is True
    assert secure["location"]["building"] == "Contoso HQ" and secure["isAcceptingJobs"] is True
    assert "defaults" not in secure  # only a single printer's GET has them


def test_listing_printers_is_not_supported_app_only_but_getting_one_is(emu: EmulatorHandle) -> None:
    app = print_app(emu)  # Printer.Read.All

    refused(app.get(graph(emu, "/print/printers"), timeout=10))
    printer = ok(app.get(graph(emu, f"/print/printers/{SECURE_PRINT}?$expand=shares"), timeout=10))

    assert printer["@odata.context"].endswith("$metadata#print/printers/$entity")
    assert printer["displayName"] == "Contoso Secure Print" and printer["defaults"]["copiesPerJob"] == 1
    assert [s["displayName"] for s in printer["shares"]] == ["Secure Print (Follow-Me)"]
    response = app.get(graph(emu, "/print/printers/00000000-0000-4000-8000-000000000000"), timeout=10)
    assert_graph_error(response, 404, "NotFound")


def test_printers_and_triggers_need_a_printer_administrator(emu: EmulatorHandle) -> None:
    adele = signed_in(emu, CONTOSO_USER[0])

    refused(adele.get(graph(emu, "/print/printers"), timeout=10))
    refused(adele.get(graph(emu, f"/print/printers/{SECURE_PRINT}/taskTriggers"), timeout=10))

    emu.control.update_user(CONTOSO, CONTOSO_USER[0], directoryRoles=[PRINTER_ADMINISTRATOR])
    assert len(ok(adele.get(graph(emu, "/print/printers"), timeout=10))["value"]) == 2


def test_shares_are_delegated_only_and_show_less_to_users(emu: EmulatorHandle) -> None:
    admin_view = ok(signed_in(emu).get(graph(emu, "/print/shares?$expand=printer"), timeout=10))["value"]
    user_view = ok(signed_in(emu, CONTOSO_USER[0]).get(graph(emu, "/print/shares"), timeout=10))["value"]

    by_name = {s["displayName"]: s for s in admin_view}
    assert by_name["Secure Print (Follow-Me)"]["printer"]["id"] == SECURE_PRINT
    assert by_name["HQ Floor 2 Color"]["allowAllUsers"] is True
    assert all(set(s) == {"id", "displayName", "manufacturer", "model", "location"} for s in user_view)
    refused(print_app(emu).get(graph(emu, "/print/shares"), timeout=10))


# --- task definitions and triggers --------------------------------------------------------------------------------


def test_a_task_definition_is_created_app_only_and_its_app_id_comes_from_the_token(emu: EmulatorHandle) -> None:
    app = print_app(emu)
    body = {"displayName": "Roger pull printing", "createdBy": {"appId": OTHER_PRINT_APP, "displayName": "Roger"}}

    created = ok(app.post(graph(emu, "/print/taskDefinitions"), json=body, timeout=10), 201)

    assert created["@odata.context"].endswith("$metadata#print/taskDefinitions/$entity")
    assert created["createdBy"] == {"appId": PRINT_APP, "displayName": "Roger"}
    assert created["displayName"] == "Roger pull printing" and re.fullmatch(GUID, created["id"])
    listed = ok(app.get(graph(emu, "/print/taskDefinitions"), timeout=10))["value"]
    assert [d["id"] for d in listed] == [created["id"]]
    assert ok(app.get(graph(emu, f"/print/taskDefinitions/{created['id']}"), timeout=10))["createdBy"]["appId"] == (
        PRINT_APP
    )
    refused(signed_in(emu).post(graph(emu, "/print/taskDefinitions"), json=body, timeout=10))
    refused(
        print_app(emu, READER_APP, "reader~Secret.Value.0007").get(graph(emu, "/print/taskDefinitions"), timeout=10)
    )


def test_triggers_are_made_with_a_delegated_token_and_app_only_is_refused(emu: EmulatorHandle) -> None:
    app = print_app(emu)
    definition = definition_create(app, emu)

    refused(trigger_create(app, emu, SECURE_PRINT, definition))
    created = ok(trigger_create(signed_in(emu), emu, SECURE_PRINT, definition), 201)

    assert created["event"] == "jobStarted" and set(created) == {"@odata.context", "id", "event"}
    listed = ok(signed_in(emu).get(graph(emu, f"/print/printers/{SECURE_PRINT}/taskTriggers?$expand=definition")))
    assert [(t["id"], t["definition"]["createdBy"]["appId"]) for t in listed["value"]] == [(created["id"], PRINT_APP)]
    refused(app.get(graph(emu, f"/print/printers/{SECURE_PRINT}/taskTriggers"), timeout=10))
    assert emu.control.print_triggers(CONTOSO) == [
        {
            "id": created["id"],
            "printer_id": SECURE_PRINT,
            "event": "jobStarted",
            "definition_id": definition,
            "app_id": PRINT_APP,
        }
    ]


def test_one_trigger_per_printer(emu: EmulatorHandle) -> None:
    _, definition = taken_over(emu)

    response = trigger_create(signed_in(emu), emu, SECURE_PRINT, definition)

    message = (
        f"Invalid Operation: There is a task trigger already created for the printer {SECURE_PRINT}. "
        "Multiple task triggers per printer is not supported."
    )
    assert_graph_error(response, 400, "400", message)


def test_a_trigger_must_come_from_the_app_of_its_definition(emu: EmulatorHandle) -> None:
    definition = definition_create(print_app(emu), emu)

    response = trigger_create(signed_in(emu, client_id=OTHER_PRINT_APP), emu, SECURE_PRINT, definition)

    assert_graph_error(response, 400, "400", "Invalid Operation:No Task definition object found with given parameters.")
    assert emu.control.print_triggers(CONTOSO) == []


def test_another_apps_trigger_is_seen_but_not_deleted(emu: EmulatorHandle) -> None:
    other = emu.control.add_print_trigger(CONTOSO, "Contoso Secure Print", OTHER_PRINT_APP)
    admin = signed_in(emu)

    listed = ok(admin.get(graph(emu, f"/print/printers/{SECURE_PRINT}/taskTriggers?$expand=definition")))["value"]
    refused(admin.delete(graph(emu, f"/print/printers/{SECURE_PRINT}/taskTriggers/{other['id']}"), timeout=10))

    assert [t["definition"]["createdBy"]["appId"] for t in listed] == [OTHER_PRINT_APP]
    assert len(emu.control.print_triggers(CONTOSO)) == 1


def test_a_definition_with_triggers_is_deleted_after_them(emu: EmulatorHandle) -> None:
    app, definition = taken_over(emu)
    admin = signed_in(emu)
    trigger = ok(admin.get(graph(emu, f"/print/printers/{SECURE_PRINT}/taskTriggers"), timeout=10))["value"][0]

    blocked = app.delete(graph(emu, f"/print/taskDefinitions/{definition}"), timeout=10)
    ok(admin.delete(graph(emu, f"/print/printers/{SECURE_PRINT}/taskTriggers/{trigger['id']}"), timeout=10), 204)
    deleted = app.delete(graph(emu, f"/print/taskDefinitions/{definition}"), timeout=10)

    assert_graph_error(blocked, 400, "400")
    assert deleted.status_code == 204 and emu.control.print_task_definitions(CONTOSO) == []
    missing = admin.delete(graph(emu, f"/print/printers/{SECURE_PRINT}/taskTriggers/{trigger['id']}"), timeout=10)
    assert_graph_error(missing, 404, "NotFound")


# --- a job and its task --------------------------------------------------------------------------------------------


def test_a_job_on_a_printer_with_a_trigger_is_held_by_a_processing_task(emu: EmulatorHandle) -> None:
    app, definition = taken_over(emu)

    submitted = emu.control.submit_print_job(CONTOSO, "Secure Print (Follow-Me)", CONTOSO_USER[0], PDF, "Q3.pdf")

    [task] = tasks_of(app, emu, definition)
    assert task["status"] == {"state": "processing", "description": "The task is being processed."}
    assert task["parentUrl"] == graph(emu, f"/print/printers/{SECURE_PRINT}/jobs/{submitted['id']}")
    job = job_of(app, emu, SECURE_PRINT, submitted["id"], "?$expand=documents")
    assert job["@odata.context"].endswith(f"$metadata#print/printers('{SECURE_PRINT}')/jobs/$entity")
    assert job["createdBy"] == {
        "id": ADELE_ID,
        "displayName": "Adele Vance",
        "ipAddress": None,
        "userPrincipalName": CONTOSO_USER[0],
    }
    assert job["status"]["state"] == "paused" and job["status"]["details"] == ["releaseWait"]
    assert job["isFetchable"] is False
    [document] = job["documents"]
    assert document["displayName"] == "Q3.pdf" and document["contentType"] == "application/pdf"
    assert document["size"] == len(PDF)
    assert submitted["share_id"] == "a1b2c3d4-2101-4000-8000-00000000c301"


def test_job_ids_count_per_printer(emu: EmulatorHandle) -> None:
    first = emu.control.submit_print_job(CONTOSO, SECURE_PRINT, CONTOSO_USER[0])
    other = emu.control.submit_print_job(CONTOSO, FLOOR_2_MFP, CONTOSO_USER[0])
    second = emu.control.submit_print_job(CONTOSO, SECURE_PRINT, CONTOSO_ADMIN[0])

    assert (first["id"], other["id"], second["id"]) == ("1", "1", "2")


def test_a_job_without_a_trigger_waits_for_the_printer(emu: EmulatorHandle) -> None:
    submitted = emu.control.submit_print_job(CONTOSO, SECURE_PRINT, CONTOSO_USER[0])

    job = job_of(print_app(emu), emu, SECURE_PRINT, submitted["id"])

    assert job["status"]["state"] == "pending" and job["isFetchable"] is True
    assert submitted["tasks"] == [] and emu.control.print_tasks(CONTOSO) == []


@pytest.mark.parametrize(
    ("printer", "state", "details", "fetchable"),
    [(SECURE_PRINT, "completed", ["completedSuccessfully"], False), (FLOOR_2_MFP, "processing", [], True)],
)
def test_completing_the_task_releases_the_job(
    emu: EmulatorHandle, printer: str, state: str, details: list[str], fetchable: bool
) -> None:
    app, definition = taken_over(emu, printer)
    submitted = emu.control.submit_print_job(CONTOSO, printer, CONTOSO_USER[0])
    [task] = tasks_of(app, emu, definition)

    updated = ok(finish(app, emu, definition, task["id"], "completed", "Held in Roger for release"))

    assert updated["status"] == {"state": "completed", "description": "Held in Roger for release"}
    job = job_of(app, emu, printer, submitted["id"])
    assert (job["status"]["state"], job["status"]["details"], job["isFetchable"]) == (state, details, fetchable)
    assert tasks_of(app, emu, definition)[0]["status"]["state"] == "completed"  # recently completed tasks stay


def test_aborting_the_task_aborts_the_job_with_its_description(emu: EmulatorHandle) -> None:
    app, definition = taken_over(emu)
    submitted = emu.control.submit_print_job(CONTOSO, SECURE_PRINT, CONTOSO_USER[0])
    [task] = tasks_of(app, emu, definition)

    ok(finish(app, emu, definition, task["id"], "aborted", "You have no Roger account."))

    job = job_of(app, emu, SECURE_PRINT, submitted["id"])
    assert job["status"]["state"] == "aborted" and job["status"]["description"] == "You have no Roger account."


def test_a_task_is_finished_once_and_only_by_its_app(emu: EmulatorHandle) -> None:
    app, definition = taken_over(emu)
    emu.control.submit_print_job(CONTOSO, SECURE_PRINT, CONTOSO_USER[0])
    [task] = tasks_of(app, emu, definition)

    refused(finish(print_app(emu, OTHER_PRINT_APP, OTHER_PRINT_SECRET), emu, definition, task["id"], "completed", ""))
    assert_graph_error(finish(app, emu, definition, task["id"], "pending", "x"), 400, "BadRequest")
    ok(finish(app, emu, definition, task["id"], "completed", "done"))
    again = finish(app, emu, definition, task["id"], "aborted", "changed my mind")

    assert_graph_error(again, 400, "400", "Invalid Operation: The task is already completed.")
    task_url = graph(emu, f"/print/taskDefinitions/{definition}/tasks/{task['id']}")
    assert ok(app.get(task_url, timeout=10))["status"]["description"] == "done"


def test_a_task_nobody_completes_leaves_the_job_held(emu: EmulatorHandle) -> None:
    _, definition = taken_over(emu)
    submitted = emu.control.submit_print_job(CONTOSO, SECURE_PRINT, CONTOSO_USER[0])

    emu.control.advance_clock(3 * 24 * 3600)

    job = job_of(print_app(emu), emu, SECURE_PRINT, submitted["id"])
    assert job["status"]["state"] == "paused"
    assert [t["status"]["state"] for t in tasks_of(print_app(emu), emu, definition)] == ["processing"]


def test_a_trigger_removed_holds_no_more_jobs(emu: EmulatorHandle) -> None:
    app, definition = taken_over(emu)
    admin = signed_in(emu)
    trigger = ok(admin.get(graph(emu, f"/print/printers/{SECURE_PRINT}/taskTriggers"), timeout=10))["value"][0]
    ok(admin.delete(graph(emu, f"/print/printers/{SECURE_PRINT}/taskTriggers/{trigger['id']}"), timeout=10), 204)

    submitted = emu.control.submit_print_job(CONTOSO, SECURE_PRINT, CONTOSO_USER[0])

    assert submitted["status"]["state"] == "pending" and tasks_of(app, emu, definition) == []


# --- documents ----------------------------------------------------------------------------------------------------


def test_a_document_is_a_redirect_to_a_preauthenticated_url_that_wants_no_token(emu: EmulatorHandle) -> None:
    app, _ = taken_over(emu)
    submitted = emu.control.submit_print_job(CONTOSO, SECURE_PRINT, CONTOSO_USER[0], PDF)
    document = submitted["documents"][0]["id"]
    value_url = graph(emu, f"/print/printers/{SECURE_PRINT}/jobs/{submitted['id']}/documents/{document}/$value")

    redirect = app.get(value_url, allow_redirects=False, timeout=10)

    assert redirect.status_code == 302 and redirect.content == b""
    location = redirect.headers["location"]
    assert urlsplit(location).scheme == "https" and "tempauthtoken=" in location
    with_token = app.get(location, timeout=10)  # the session sends its bearer token
    plain = emu.session().get(location, timeout=10)
    assert with_token.status_code == 401
    assert plain.status_code == 200 and plain.content == PDF
    assert plain.headers["content-type"] == "application/pdf"
    emu.control.advance_clock(601)
    assert emu.session().get(location, timeout=10).status_code == 403
    downloads = emu.control.requests_received("print_download")
    assert [r["status"] for r in downloads] == [401, 200, 403]


def test_content_needs_print_job_read_and_metadata_does_not(emu: EmulatorHandle) -> None:
    submitted = emu.control.submit_print_job(CONTOSO, SECURE_PRINT, CONTOSO_USER[0])
    basic = print_app(emu, BASIC_PRINT_APP, BASIC_PRINT_SECRET)  # PrintJob.ReadBasic.All
    document = submitted["documents"][0]["id"]
    job_url = f"/print/printers/{SECURE_PRINT}/jobs/{submitted['id']}"

    assert ok(basic.get(graph(emu, job_url + "/documents"), timeout=10))["value"][0]["id"] == document
    refused(basic.get(graph(emu, f"{job_url}/documents/{document}/$value"), allow_redirects=False, timeout=10))
    refused(print_app(emu, READER_APP, "reader~Secret.Value.0007").get(graph(emu, job_url), timeout=10))


def test_jobs_are_listed_and_filtered_by_who_printed_them(emu: EmulatorHandle) -> None:
    emu.control.submit_print_job(CONTOSO, SECURE_PRINT, CONTOSO_USER[0])
    emu.control.submit_print_job(CONTOSO, SECURE_PRINT, CONTOSO_ADMIN[0])
    app = print_app(emu)
    jobs_url = graph(emu, f"/print/printers/{SECURE_PRINT}/jobs")

    everyone = ok(app.get(jobs_url, timeout=10))["value"]
    adele = ok(app.get(jobs_url, params={"$filter": f"createdBy/userPrincipalName eq '{CONTOSO_USER[0]}'"}))["value"]
    first_page = ok(app.get(jobs_url, params={"$top": "1"}, timeout=10))

    assert [j["id"] for j in everyone] == ["1", "2"] and [j["id"] for j in adele] == ["1"]
    assert len(first_page["value"]) == 1
    assert [j["id"] for j in ok(app.get(first_page["@odata.nextLink"], timeout=10))["value"]] == ["2"]
    own = ok(signed_in(emu, CONTOSO_USER[0], client_id=BASIC_PRINT_APP).get(jobs_url, timeout=10))
    assert [j["createdBy"]["userPrincipalName"] for j in own["value"]] == [CONTOSO_USER[0]]


def test_a_filter_is_checked_against_the_resource_not_the_results(emu: EmulatorHandle) -> None:
    app = print_app(emu)
    jobs_url = graph(emu, f"/print/printers/{FLOOR_2_MFP}/jobs")

    none_yet = app.get(jobs_url, params={"$filter": "createdBy/userPrincipalName eq 'x@contoso.com'"}, timeout=10)
    unknown = app.get(jobs_url, params={"$filter": "shoeSize eq 42"}, timeout=10)

    assert ok(none_yet)["value"] == []
    assert_graph_error(unknown, 400, "Request_UnsupportedQuery")


# --- abort --------------------------------------------------------------------------------------------------------


def test_a_job_is_aborted_only_while_this_apps_task_holds_it(emu: EmulatorHandle) -> None:
    unheld = emu.control.submit_print_job(CONTOSO, SECURE_PRINT, CONTOSO_USER[0])
    app, definition = taken_over(emu)
    held = emu.control.submit_print_job(CONTOSO, SECURE_PRINT, CONTOSO_USER[0])
    abort = f"/print/printers/{SECURE_PRINT}/jobs/{{}}/abort"
    reason = {"reason": "PostScript is not accepted here."}

    not_held = app.post(graph(emu, abort.format(unheld["id"])), json=reason, timeout=10)
    other_app = print_app(emu, OTHER_PRINT_APP, OTHER_PRINT_SECRET).post(
        graph(emu, abort.format(held["id"])), json=reason
    )
    delegated = signed_in(emu).post(graph(emu, abort.format(held["id"])), json=reason, timeout=10)
    aborted = app.post(graph(emu, abort.format(held["id"])), json=reason, timeout=10)

    assert_graph_error(not_held, 400, "400")
    assert_graph_error(other_app, 400, "400")
    refused(delegated)
    assert aborted.status_code == 204 and aborted.content == b""
    job = job_of(app, emu, SECURE_PRINT, held["id"])
    assert job["status"]["state"] == "aborted" and job["status"]["description"] == reason["reason"]
    assert tasks_of(app, emu, definition)[0]["status"]["state"] == "aborted"


# --- the control API and the base's faults ------------------------------------------------------------------------


def test_printers_and_shares_added_through_the_control_api(emu: EmulatorHandle) -> None:
    added = emu.control.add_printer(
        CONTOSO, "Lab Printer", share="Lab", hasPhysicalDevice=True, location={"building": "Lab"}
    )
    emu.control.add_printer_share(CONTOSO, "Lab Printer", "Lab (color)")
    job = emu.control.submit_print_job(CONTOSO, "Lab (color)", CONTOSO_USER[0])

    listed = ok(signed_in(emu).get(graph(emu, "/print/printers"), timeout=10))["value"]
    assert {p["displayName"] for p in listed} == {"Contoso Secure Print", "HQ Floor 2 MFP", "Lab Printer"}
    assert [s["displayName"] for s in added["shares"]] == ["Lab"]
    assert job["printer_id"] == added["id"] and job["share_id"] is not None
    emu.control.update_printer(CONTOSO, "Lab Printer", isAcceptingJobs=False)
    with pytest.raises(Exception, match="not accepting jobs"):
        emu.control.submit_print_job(CONTOSO, "Lab Printer", CONTOSO_USER[0])
    with pytest.raises(Exception, match="no user"):
        emu.control.submit_print_job(CONTOSO, SECURE_PRINT, "megan.bowen@fabrikam.onmicrosoft.com")


def test_a_reset_brings_back_the_seeded_printers_only(emu: EmulatorHandle) -> None:
    taken_over(emu)
    emu.control.add_printer(CONTOSO, "Temporary")
    emu.control.submit_print_job(CONTOSO, SECURE_PRINT, CONTOSO_USER[0])

    emu.control.reset()

    assert {p["displayName"] for p in emu.control.printers(CONTOSO)} == {"Contoso Secure Print", "HQ Floor 2 MFP"}
    assert emu.control.print_jobs(CONTOSO) == [] and emu.control.print_triggers(CONTOSO) == []
    assert emu.control.print_task_definitions(CONTOSO) == []


def test_a_throttled_print_call_says_when_to_come_back(emu: EmulatorHandle) -> None:
    app, definition = taken_over(emu)
    emu.control.inject_fault("graph", status=429, retry_after=7)

    response = app.get(graph(emu, f"/print/taskDefinitions/{definition}/tasks"), timeout=10)

    assert_graph_error(response, 429, "TooManyRequests")
    assert response.headers["retry-after"] == "7"
