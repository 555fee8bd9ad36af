"""Fixtures for outgoing mail: Exchange Online tokens from the emulator, SMTP settings pointed at it."""

from __future__ import annotations

import warnings
from typing import Any

import msal
import pytest

from tests import exchange_online

CONTOSO, EXCHANGE_APP = exchange_online.CONTOSO, exchange_online.EXCHANGE_APP
GRAPH_DEVICE_APP = "7e570001-0000-4000-8000-000000000001"
SMTP_SEND = "https://outlook.office.com/SMTP.Send"
MAILBOX = "printing@contoso.onmicrosoft.com"
CONTOSO_ADMIN = "admin@contoso.onmicrosoft.com"
OTHER_USER = "adele.vance@contoso.onmicrosoft.com"
SHARED_MAILBOX = "printers@contoso.onmicrosoft.com"  # admin and printing may send as it (seed: mailboxes)
RELAY_ACCOUNT = "relay@contoso.com"
RELAY_PASSWORD = "Relay-Password-1"


def device_code_token(
    m365: Any,
    upn: str,
    *,
    client_id: str = EXCHANGE_APP,
    scopes: tuple[str, ...] = (SMTP_SEND,),
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


def connect_exchange_system(
    *, tenant: Any, actor: Any, m365: Any, mailbox: str = MAILBOX, title: str = "Contoso mail"
) -> Any:
    """The Contoso printing mailbox (or `mailbox`) connected as an Exchange Online system (tests.exchange_online)."""
    return exchange_online.connect_exchange_system(tenant=tenant, actor=actor, m365=m365, mailbox=mailbox, title=title)


def use_exchange(*, tenant: Any, actor: Any, system: Any, send_as: str = "", from_name: str = "") -> Any:
    from mail_servers.services import MailServerValues
    from outgoing_mail.services import OutgoingMailChange, outgoing_mail_settings_save

    server = MailServerValues(kind="exchange", protocol="smtp", exchange_system=system, shared_mailbox=send_as)
    change = OutgoingMailChange(use_own_server=True, server=server, from_name=from_name)
    return outgoing_mail_settings_save(tenant=tenant, actor=actor, change=change)


def use_custom_server(
    *, tenant: Any, actor: Any, m365: Any, password: str = RELAY_PASSWORD, security: str = "starttls"
) -> Any:
    from mail_servers.services import MailServerValues
    from outgoing_mail.services import OutgoingMailChange, outgoing_mail_settings_save

    port = m365.smtps_port if security == "ssl" else m365.smtp_port
    server = MailServerValues(
        kind="custom",
        protocol="smtp",
        host=m365.smtp_host,
        port=port,
        security=security,
        username=RELAY_ACCOUNT,
        password=password,
    )
    change = OutgoingMailChange(use_own_server=True, server=server, from_address=RELAY_ACCOUNT, from_name="Alpha Print")
    return outgoing_mail_settings_save(tenant=tenant, actor=actor, change=change)


@pytest.fixture
def mail_settings(settings: Any, m365: Any) -> Any:
    """The pytest process's outgoing mail settings, matching the worker's (celery_worker_env below)."""
    settings.EMAIL_BACKEND = "outgoing_mail.backends.QueuedEmailBackend"
    settings.CUSTOM_MAIL_CA_BUNDLE = str(m365.ca_path)
    settings.OUTGOING_MAIL_RETRY_BASE_SECONDS = 1
    settings.OUTGOING_MAIL_RATE_WINDOW_SECONDS = RATE_WINDOW
    return settings


RATE_WINDOW = 10.0  # seconds: the tests' stand-in for Exchange's minute, longer than sending 30 messages takes


@pytest.fixture
def celery_worker_env(celery_worker_env: dict[str, str], m365: Any, tmp_path: Any) -> dict[str, str]:
    """The worker sends through the emulator, trusts its CA, retries fast and uses a small rate window."""
    return {
        **celery_worker_env,
        "EMAIL_BACKEND": "outgoing_mail.backends.QueuedEmailBackend",
        "OPERATOR_EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path / "operator-mail"),
        "CUSTOM_MAIL_CA_BUNDLE": str(m365.ca_path),
        "OUTGOING_MAIL_RETRY_BASE_SECONDS": "1",
        "OUTGOING_MAIL_RATE_WINDOW_SECONDS": str(RATE_WINDOW),
    }
