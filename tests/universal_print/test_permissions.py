"""What the Universal Print feature asks Microsoft for, everywhere it is written down."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from integrations.features import feature_spec, manifest_snippet
from microsoft import universal_print

# Microsoft Graph's published permission ids.
DELEGATED = {
    "Printer.ReadWrite.All": "89f66824-725f-4b8f-928e-e1c5258dc565",
    "PrinterShare.ReadBasic.All": "5fa075e9-b951-4165-947b-c63396ff0a37",
}
APPLICATION = {
    "Printer.Read.All": "9709bb33-4549-49d4-8ed9-a8f65e45bb0f",
    "PrintTaskDefinition.ReadWrite.All": "456b71a7-0ee0-4588-9842-c123fcc8f664",
    "PrintJob.Read.All": "ac6f956c-edea-44e4-bd06-64b1b4b9aec9",
    "PrintJob.ReadWriteBasic.All": "57878358-37f4-4d3a-8c20-4816e0d457b1",
}


def test_the_feature_asks_for_what_the_client_uses_and_no_more():
    spec = feature_spec("universal_print")

    assert set(spec.application) == set(APPLICATION) == set(universal_print.APP_ROLES)
    assert {f"https://graph.microsoft.com/{name}" for name in spec.delegated} == set(universal_print.DELEGATED_SCOPES)
    assert "PrintJob.Manage.All" not in spec.application  # abort needs no more than PrintJob.ReadWriteBasic.All


def test_the_manifest_snippet_lists_each_permission_by_its_id_and_kind():
    access = json.loads(manifest_snippet(feature_spec("universal_print")))["requiredResourceAccess"][0]
    entries = {(item["id"], item["type"]) for item in access["resourceAccess"]}

    assert {(guid, "Role") for guid in APPLICATION.values()} <= entries
    assert {(guid, "Scope") for guid in DELEGATED.values()} <= entries
    assert {kind for _, kind in entries} == {"Role", "Scope"}
    assert len([e for e in entries if e[1] == "Role"]) == len(APPLICATION)


def test_the_set_up_guide_says_why_a_printer_administrator_signs_in(admin_a_client):
    page = admin_a_client.get(reverse("integrations:guide")).content.decode()
    manifest = re.search(r'<pre id="manifest-universal_print">(.*?)</pre>', page, re.DOTALL)

    assert manifest and all(guid in manifest.group(1) for guid in [*APPLICATION.values(), *DELEGATED.values()])
    note = re.search(r'id="permissions-note-universal_print">(.*?)</p>', page, re.DOTALL)
    assert note and "Printer Administrator" in note.group(1) and "task triggers" in note.group(1)


@pytest.mark.emulator
@pytest.mark.django_db
def test_the_integration_page_shows_the_roles_the_app_only_token_holds(m365, up_feature, admin_a_client):
    """The application permissions (roles) are ticked once a token from Microsoft shows them."""
    from tests.security.test_consent_evidence import _permissions

    shown = _permissions(admin_a_client, up_feature)

    application = {name: text for name, text in shown.items() if "Application" in text}
    assert set(application) == {
        "Printer.Read.All",
        "PrintTaskDefinition.ReadWrite.All",
        "PrintJob.Read.All",
        "PrintJob.ReadWriteBasic.All",
    }
    assert all(text.startswith("✓") for text in application.values()), shown
    delegated = {name for name, text in shown.items() if "Delegated" in text}
    assert delegated == {"Printer.ReadWrite.All", "PrinterShare.ReadBasic.All"}
