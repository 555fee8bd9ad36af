"""Fixtures for outgoing mail: Exchange Online tokens from the emulator, SMTP settings pointed at it."""

from __future__ import annotations

import warnings
from typing import Any

import msal
import pytest

CONTOSO = "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
EXCHANGE_APP = "d3e4f5a6-1111-4b2c-8d3e-00000000e0e1"
GRAPH_DEVICE_APP = "7e570001-0000-4000-8000-000000000001"
SMTP_SEND = "https://outlook.office.com/SMTP.Send"
MAILBOX = "printing@contoso.onmicrosoft.com"
CONTOSO_ADMIN = "admin@contoso.onmicrosoft.com"
OTHER_USER = "adele.vance@contoso.onmicrosoft.com"
SHARED_MAILBOX = "printers@contoso.onmicrosoft.com"  # admin and printing may send as it (seed: mailboxes)
RELAY_ACCOUNT = "relay@contoso.com"
RELAY_PASSWORD = "Relay-Password-1"


def device_code_token(
    m365: Any, upn: str, *, client_id: str = EXCHANGE_APP, scopes: tuple[str, ...] = (SMTP_SEND,),
    tenant: str = CONTOSO,
) -> dict[str, Any]:
    """A real MSAL device code sign-in of `upn`, approved through the emulator's control API."""
    app = msal.PublicClientApplication(
        client_id, authority=f"{m365.https_url}/{tenant}", instance_discovery=False, http_client=m365.session()
    )
    flow = app.initiate_device_flow(scopes=list(scopes))
    m365.control.approve_device_code(flow["user_code"], upn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result: dict[str, Any] = app.acquire_token_by_device_flow(flow, exit_condition=lambda _flow: True)
    assert "access_token" in result, result
    return result


@pytest.fixture
def smtp_token(m365: Any) -> str:
    """An SMTP.Send access token of the Contoso printing mailbox."""
    return str(device_code_token(m365, MAILBOX)["access_token"])
