"""A Printer Administrator's sign-in lists the printers and turns them on and off: task triggers are made with the
delegated token of that person, never with the app's own (Microsoft refuses that, and so does the emulator)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.urls import reverse

from credentials.models import MicrosoftCredential
from integrations.services.tokens import feature_app_token
from microsoft import errors as microsoft_errors
from microsoft import universal_print as graph_print
from tests.security.conftest import MicrosoftPageError
from universal_print.choices import PrinterState, SignInStatus
from universal_print.models import AdminSignIn, Connection

from .conftest import (
    ADELE,
    CONTOSO,
    FABRIKAM_ADMIN,
    FLOOR_2_MFP,
    OTHER_PRINT_APP,
    SECURE_PRINT,
    UP_APP,
    printer_admin_signs_in,
    printers_taking_jobs,
    tick,
)

pytestmark = [pytest.mark.emulator, pytest.mark.django_db]


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_a_printer_administrator_lists_the_printers(m365, up_feature, admin_a_client, printer_admin):
    page = printer_admin_signs_in(m365, admin_a_client, up_feature, printer_admin)
    assert "Roger is reading the printers" in page.content.decode()

    assert tick(up_feature) == "idle"

    connection = Connection.objects.get(feature=up_feature)
    printers = {p.printer_id: p for p in connection.printers.all()}
    assert printers[SECURE_PRINT].share_names == ["Secure Print (Follow-Me)"]
    assert printers[SECURE_PRINT].location == "Contoso HQ, Floor 1, Reception, Redmond"
    assert printers[FLOOR_2_MFP].has_physical_device is True
    assert connection.printers_listed_by == printer_admin[0]
    sign_in = AdminSignIn.objects.get(connection=connection)
    assert sign_in.status == SignInStatus.DONE and sign_in.results == ["2 printers listed."]
    # The sign-in's token is forgotten once used: Roger keeps no delegated power over the printers.
    assert not MicrosoftCredential.objects.filter(owner_type="universal_print_sign_in").exists()


def test_turning_a_printer_on_makes_a_trigger_with_the_administrators_token(
    m365, up_feature, admin_a_client, printer_admin
):
    m365.control.clear_requests()
    connection = printers_taking_jobs(m365, admin_a_client, up_feature, printer_admin, SECURE_PRINT)

    [trigger] = m365.control.print_triggers(CONTOSO)
    assert trigger["app_id"] == UP_APP and trigger["printer_id"] == SECURE_PRINT
    printer = connection.printers.get(printer_id=SECURE_PRINT)
    assert printer.trigger_id == trigger["id"] and printer.state == PrinterState.TAKES_JOBS
    created = [
        r for r in m365.control.requests_received("graph") if r["method"] == "POST" and "taskTriggers" in r["path"]
    ]
    assert len(created) == 1
    token = created[0]["headers"]["authorization"].split(" ", 1)[1]
    assert "Printer.ReadWrite.All" in _claims(token)["scp"] and "roles" not in _claims(token)
    assert connection.definition_id and [d["id"] for d in m365.control.print_task_definitions(CONTOSO)] == [
        connection.definition_id
    ]
    # The app's own token may not: Universal Print refuses app-only trigger calls.
    with pytest.raises(microsoft_errors.PermissionMissing):
        graph_print.task_trigger_create(
            token=feature_app_token(up_feature), printer_id=FLOOR_2_MFP, definition_id=connection.definition_id
        )


def test_a_printer_turned_off_loses_its_trigger(m365, up_feature, admin_a_client, printer_admin):
    connection = printers_taking_jobs(m365, admin_a_client, up_feature, printer_admin, SECURE_PRINT)
    printer = connection.printers.get(printer_id=SECURE_PRINT)
    response = admin_a_client.post(
        reverse("universal_print:printers_save", args=[connection.pk]),
        {f"c{connection.pk}-feeds_{printer.pk}": "", f"c{connection.pk}-queue_{printer.pk}": printer.queue_id},
        follow=True,
    )
    printer.refresh_from_db()
    assert printer.state == PrinterState.TURNING_OFF and "wait" in response.content.decode()
    assert len(m365.control.print_triggers(CONTOSO)) == 1  # nothing changes at Microsoft without the sign-in

    printer_admin_signs_in(m365, admin_a_client, up_feature, printer_admin)
    tick(connection)

    printer.refresh_from_db()
    assert m365.control.print_triggers(CONTOSO) == []
    assert printer.trigger_id == "" and printer.state == PrinterState.OFF


def test_someone_who_is_not_a_printer_administrator_changes_nothing(m365, up_feature, admin_a_client, adele):
    printer_admin_signs_in(m365, admin_a_client, up_feature, (ADELE, "Contoso-User-1"))
    tick(up_feature)

    sign_in = AdminSignIn.objects.get()
    assert sign_in.status == SignInStatus.FAILED and "Printer Administrator" in sign_in.error
    assert not Connection.objects.get(feature=up_feature).printers.exists()
    page = admin_a_client.get(reverse("universal_print:page")).content.decode()
    assert "sign in with a Printer Administrator or Global Administrator" in page


def test_the_sign_in_is_to_the_integrations_directory_only(m365, up_feature, admin_a_client):
    # Roger sends the person to the directory's own sign-in page, where another directory's admin is refused.
    with pytest.raises(MicrosoftPageError, match="AADSTS50020"):
        printer_admin_signs_in(m365, admin_a_client, up_feature, FABRIKAM_ADMIN)

    assert not AdminSignIn.objects.exists() and m365.control.print_triggers(CONTOSO) == []


def test_a_printer_held_by_another_application_says_what_to_do(m365, up_feature, admin_a_client, printer_admin):
    m365.control.add_print_trigger(CONTOSO, SECURE_PRINT, OTHER_PRINT_APP)
    printer_admin_signs_in(m365, admin_a_client, up_feature, printer_admin)
    tick(up_feature)
    connection = Connection.objects.get(feature=up_feature)
    printer = connection.printers.get(printer_id=SECURE_PRINT)
    assert printer.state == PrinterState.OTHER_APP and printer.held_by_app_id == OTHER_PRINT_APP

    page = admin_a_client.get(reverse("universal_print:page")).content.decode()
    assert "Held by another application" in page and "Remove" in page
