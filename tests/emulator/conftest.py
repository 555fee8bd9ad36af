"""Fixtures for the emulator's own tests: one emulator process per session, reset before every test.

Nothing here imports Django; the tests talk to the emulator over real sockets with MSAL and requests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msal
import pytest
import requests

from m365_emulator.testing import EmulatorHandle, start_emulator

SEED = Path(__file__).resolve().parents[2] / "m365_emulator" / "seeds" / "test.json"

CONTOSO = "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
FABRIKAM = "9e8d7c6b-5a49-4382-a716-f5e4d3c2b1a0"
NORTHWIND = "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"
CONTOSO_ADMIN = ("admin@contoso.onmicrosoft.com", "Contoso-Admin-1")
CONTOSO_USER = ("adele.vance@contoso.onmicrosoft.com", "Contoso-User-1")
CONTOSO_MAILBOX = "printing@contoso.onmicrosoft.com"
FABRIKAM_ADMIN = ("admin@fabrikam.onmicrosoft.com", "Fabrikam-Admin-1")
DEVICE_APP = "7e570001-0000-4000-8000-000000000001"
SHORT_DEVICE_APP = "7e570002-0000-4000-8000-000000000002"
WEB_APP = "7e570003-0000-4000-8000-000000000003"
WEB_SECRET = "web~Secret.Value.0003"
EXPIRED_SECRET_APP = "7e570004-0000-4000-8000-000000000004"
SINGLE_TENANT_APP = "7e570005-0000-4000-8000-000000000005"
SINGLE_TENANT_SECRET = "single~Secret.Value.0005"
NO_PUBLIC_FLOWS_APP = "7e570006-0000-4000-8000-000000000006"
EXCHANGE_APP = "d3e4f5a6-1111-4b2c-8d3e-00000000e0e1"
READER_APP, READER_SECRET = "7e570007-0000-4000-8000-000000000007", "reader~Secret.Value.0007"  # users and groups
GROUP_READER_APP, GROUP_READER_SECRET = "7e570008-0000-4000-8000-000000000008", "groups~Secret.Value.0008"
CALLBACK = "http://127.0.0.1/callback"
SMTP_SEND = "https://outlook.office.com/SMTP.Send"
GRAPH_DEFAULT = "https://graph.microsoft.com/.default"

GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ"


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorHandle]:
    with start_emulator(SEED, tmp_path_factory.mktemp("m365-emulator")) as handle:
        yield handle


@pytest.fixture
def emu(emulator: EmulatorHandle) -> EmulatorHandle:
    """The session's emulator, reset to its seed (clock, consents, tokens, faults, request log)."""
    emulator.control.reset()
    return emulator


def public_app(
    emu: EmulatorHandle, client_id: str = DEVICE_APP, tenant: str = "organizations", **kwargs: Any
) -> msal.PublicClientApplication:
    """A fresh MSAL app per operation (MSAL caches 400 answers and discovery per instance)."""
    return msal.PublicClientApplication(
        client_id, authority=f"{emu.https_url}/{tenant}", instance_discovery=False, http_client=emu.session(), **kwargs
    )


def confidential_app(
    emu: EmulatorHandle, client_id: str = WEB_APP, secret: str = WEB_SECRET, tenant: str = CONTOSO, **kwargs: Any
) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=secret,
        authority=f"{emu.https_url}/{tenant}",
        instance_discovery=False,
        http_client=emu.session(),
        azure_region=None,
        **kwargs,
    )


def assert_aad_error(body: dict[str, Any], *, error: str, code: int, suberror: str | None = None) -> None:
    """The exact error shape of protocols.md §1.8."""
    expected_keys = {
        "error",
        "error_description",
        "error_codes",
        "timestamp",
        "trace_id",
        "correlation_id",
        "error_uri",
    }
    if suberror:
        expected_keys.add("suberror")
    assert expected_keys <= set(body), body
    assert body["error"] == error, body
    assert body["error_codes"] == [code], body
    assert re.fullmatch(
        rf"AADSTS{code}: .+\r\nTrace ID: {GUID}\r\nCorrelation ID: {GUID}\r\nTimestamp: {STAMP}",
        body["error_description"],
        re.DOTALL,
    ), body["error_description"]
    assert re.fullmatch(STAMP, body["timestamp"])
    assert re.fullmatch(GUID, body["trace_id"]) and re.fullmatch(GUID, body["correlation_id"])
    assert body["error_uri"].endswith(f"/error?code={code}")
    assert body.get("suberror") == suberror


def post_token(emu: EmulatorHandle, data: dict[str, str], tenant: str = CONTOSO, **kwargs: Any) -> requests.Response:
    return emu.session().post(f"{emu.https_url}/{tenant}/oauth2/v2.0/token", data=data, timeout=10, **kwargs)


def app_token(
    emu: EmulatorHandle,
    client_id: str = READER_APP,
    secret: str = READER_SECRET,
    tenant: str = CONTOSO,
    scope: str = GRAPH_DEFAULT,
) -> str:
    """An app-only access token from the emulator, through MSAL's client credentials."""
    result = confidential_app(emu, client_id, secret, tenant).acquire_token_for_client(scopes=[scope])
    assert "access_token" in result, result
    return str(result["access_token"])


def graph_client(emu: EmulatorHandle, token: str | None = None) -> requests.Session:
    """A session that calls the emulator's Graph with ``token`` (the reader app's in Contoso by default)."""
    session = emu.session()
    session.headers["Authorization"] = f"Bearer {token or app_token(emu)}"
    return session


def graph(emu: EmulatorHandle, path: str) -> str:
    """The emulator's Graph URL of ``path`` (``/users``...) under v1.0."""
    return f"{emu.graph_url}/v1.0{path}"


GRAPH_DATE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"


def assert_graph_error(response: requests.Response, status: int, code: str, message: str | None = None) -> None:
    """Graph's shape: {"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "innerError"}
    assert error["code"] == code
    if message is not None:
        assert error["message"] == message
    inner = error["innerError"]
    assert set(inner) == {"date", "request-id", "client-request-id"}
    assert re.fullmatch(GRAPH_DATE, inner["date"]) and re.fullmatch(GUID, inner["request-id"])
    assert response.headers["request-id"] == inner["request-id"]
