"""A flow from the page through Celery to Microsoft, read back from its logs: one correlation id and tenant id
follow it, each request and task writes its line, and no secret of the run is in any line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.urls import reverse

from audit.models import AuditEvent
from credentials.models import MicrosoftCredential
from external_systems.choices import ConnectionStatus
from external_systems.models import DeviceCodeConnection, ExternalSystem
from operations.logging import ContextFilter, JsonFormatter
from outgoing_mail.choices import OutboundStatus
from outgoing_mail.models import OutboundEmail
from tests.conftest import ROOT, wait_until
from tests.exchange_online import CONTOSO, EXCHANGE_APP
from tests.outgoing_mail.conftest import MAILBOX

pytestmark = [pytest.mark.emulator, pytest.mark.django_db(transaction=True)]

ADD_URL = reverse("external_systems:add", args=["exchange_online"])
NETWORK = reverse("outgoing_mail:network")
TEST_EMAIL = reverse("outgoing_mail:test_email")
SEED = ROOT / "m365_emulator" / "seeds" / "test.json"
SECRET_FORM_FIELDS = ("client_secret", "refresh_token", "device_code", "code", "code_verifier", "password", "assertion")


@pytest.fixture
def portal_log() -> Iterator[io.StringIO]:
    """This process's log lines, as JSON, the way LOG_FORMAT=json writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def celery_worker_env(celery_worker_env: dict[str, str], tmp_path: Any) -> dict[str, str]:
    return {
        **celery_worker_env,
        "LOG_FORMAT": "json",
        "EMAIL_BACKEND": "outgoing_mail.backends.QueuedEmailBackend",
        "OPERATOR_EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path / "operator-mail"),
    }


def _lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return lines


def test_a_flow_is_followed_by_its_correlation_id_and_logs_no_secret(
    m365, celery_worker, portal_log, settings, admin_a_client, tenant_a
):
    settings.EMAIL_BACKEND = "outgoing_mail.backends.QueuedEmailBackend"
    # The page: add an Exchange Online system; a worker asks Microsoft for a code, the admin signs in.
    added = admin_a_client.post(ADD_URL, {"title": "Contoso mail", "client_id": EXCHANGE_APP, "tenant_id": CONTOSO})
    assert added.status_code == 302
    flow = added["X-Request-ID"]
    connection = DeviceCodeConnection.objects.get()
    wait_until(lambda: _status(connection) == ConnectionStatus.PENDING, message="the code from Microsoft")
    m365.control.approve_device_code(connection.user_code, MAILBOX)
    wait_until(lambda: _status(connection) == ConnectionStatus.CONNECTED, message="the connection")

    # Then the outgoing server, and a test email sent through it with a token.
    system = ExternalSystem.objects.get()
    saved = admin_a_client.post(
        NETWORK, {"mode": "exchange", "exchange_system": system.pk, "custom_security": "starttls"}
    )
    assert saved.status_code == 302
    tested = admin_a_client.post(TEST_EMAIL, {"recipient": "someone@example.net"})
    test_flow = tested["X-Request-ID"]
    outbound = OutboundEmail.objects.get()
    wait_until(lambda: _sent(outbound), message="the test email")
    assert m365.control.smtp_messages(to="someone@example.net")

    worker = _lines(celery_worker.log())
    portal = _lines(portal_log.getvalue())

    # One line per request, with the flow and the tenant; the same flow in the worker's task and Microsoft lines.
    request_line = next(line for line in portal if line["logger"] == "operations.request" and line["path"] == ADD_URL)
    assert (request_line["correlation_id"], request_line["tenant_id"], request_line["status"]) == (
        flow,
        tenant_a.pk,
        302,
    )
    flow_tasks = [line for line in worker if line["logger"] == "operations.task" and line["correlation_id"] == flow]
    assert {line["task"] for line in flow_tasks} == {"external_systems.connection_advance"}
    assert all(line["tenant_id"] == tenant_a.pk and line["queue"] == "interactive" for line in flow_tasks)
    assert {line["outcome"] for line in flow_tasks} == {"SUCCESS"}
    microsoft_calls = [line for line in worker if line["logger"] == "microsoft.http" and line["correlation_id"] == flow]
    assert any("devicecode" in line["message"] for line in microsoft_calls)
    assert any(
        line["logger"] == "operations.task"
        and line["task"] == "outgoing_mail.test_email_send"
        and line["correlation_id"] == test_flow
        for line in worker
    )
    # The audit rows of the flow name the admin and the address, the worker's too.
    started = AuditEvent.objects.get(action="external_system.connection_started")
    assert (started.actor_label, started.ip_address) == ("admin@alpha.example", "127.0.0.1")

    # No secret of the run in any line.
    text = celery_worker.log() + portal_log.getvalue()
    secrets = _secrets_of_the_run(m365)
    print(
        "DEBUG",
        len(secrets),
        len(worker),
        len(portal),
        len(flow_tasks),
        len(microsoft_calls),
        sorted(s[:10] for s in secrets),
    )
    leaked = [secret[:6] + "…" for secret in secrets if secret in text]
    assert leaked == []


def _status(connection: DeviceCodeConnection) -> str:
    connection.refresh_from_db()
    return connection.status


def _sent(outbound: OutboundEmail) -> bool:
    outbound.refresh_from_db()
    return outbound.status == OutboundStatus.SENT


def _secrets_of_the_run(m365: Any) -> set[str]:
    """Seeded passwords and secrets, the portal's keys, and every token, code and secret that crossed the wire."""
    from m365_emulator.seed import _read_with_base

    found: set[str] = set()
    _collect(_read_with_base(SEED), found)
    found.update([settings.SECRET_KEY, *settings.FERNET_KEYS])
    found.update(app["client_secret"] for app in settings.MICROSOFT_APPS.values())
    for received in m365.control.requests_received():
        form = received.get("form") or {}
        found.update(str(form[name]) for name in SECRET_FORM_FIELDS if form.get(name))
    for credential in MicrosoftCredential.objects.all():
        _collect(json.loads(credential.token_cache or "{}"), found)
    for connection in DeviceCodeConnection.objects.all():
        _collect(json.loads(connection.flow or "{}"), found)
    secrets = {secret for secret in found if len(secret) >= 8}
    assert len(secrets) >= 8, "the run should have seen tokens, codes and seeded secrets"
    return secrets


def _collect(value: Any, found: set[str], key: str = "") -> None:
    if isinstance(value, dict):
        for name, item in value.items():
            _collect(item, found, name)
    elif isinstance(value, list):
        for item in value:
            _collect(item, found, key)
    elif isinstance(value, str) and any(
        word in key.lower() for word in ("secret", "password", "token", "device_code", "code_verifier", "value")
    ):
        found.add(value)
