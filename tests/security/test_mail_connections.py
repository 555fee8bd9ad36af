"""How the portal talks to a mail server a tenant admin typed: time limits, what of its replies is shown, where a
saved password may go, and header values that cannot smuggle lines.

The servers here are real sockets on loopback (tests/security/loopback_servers.py), allowed the way the operator
allows a network (TENANT_MAIL_ALLOWED_NETWORKS), so the production path runs from the check to the last byte.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
from django.test import Client

from mail_jobs.models import MailJobSource
from mail_jobs.services import mail_source_save
from mail_servers.services import MailServerValues
from microsoft.errors import TransientError
from microsoft.mail_connection import Security
from microsoft.mailbox import MailLogin, MailProtocol, MailServer, open_mailbox
from microsoft.smtp import OutgoingMessage, SmtpServer, smtp_send
from outgoing_mail.choices import OutboundStatus
from outgoing_mail.models import OutgoingMailSettings
from outgoing_mail.services import OutgoingMailChange, outgoing_mail_settings_save
from tests.security.loopback_servers import (
    dribbling,
    greeting_only,
    imap_accepting,
    loopback_server,
    pop3_accepting,
    silent,
    smtp_accepting,
)
from tests.security.test_mail_hosts import (
    JOBS,
    NETWORK,
    jobs_form,
    network_form,
    run_connection_test,
    send_test_email,
    stored_mail_source,
    stored_smtp_server,
)

pytestmark = pytest.mark.django_db

READ_TIMEOUT, TIME_LIMIT = 1.0, 3.0
SLACK = 2.5  # seconds past the limit allowed for a loaded machine to notice and unwind
PASSWORD = "Top-Secret-1"


@pytest.fixture(autouse=True)
def _loopback_allowed(settings: Any) -> None:
    settings.TENANT_MAIL_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.TENANT_MAIL_ALLOW_PLAINTEXT_PASSWORDS = False
    settings.TENANT_MAIL_CONNECT_TIMEOUT = READ_TIMEOUT
    settings.TENANT_MAIL_READ_TIMEOUT = READ_TIMEOUT
    settings.TENANT_MAIL_SMTP_TIME_LIMIT = settings.TENANT_MAIL_MAILBOX_TIME_LIMIT = TIME_LIMIT


def _talk(protocol: str, port: int) -> None:
    limits = {"timeout": READ_TIMEOUT, "connect_timeout": READ_TIMEOUT, "time_limit": TIME_LIMIT}
    if protocol == "smtp":
        server = SmtpServer(host="127.0.0.1", port=port, security=Security.NONE, **limits)
        message = OutgoingMessage("print@alpha.example", ("a@example.net",), b"Subject: hi\r\n\r\nhi\r\n")
        smtp_send(server=server, login=None, message=message)
        return
    mail_server = MailServer(MailProtocol(protocol), "127.0.0.1", port, Security.NONE, **limits)
    with open_mailbox(mail_server, MailLogin("print@alpha.example", password=PASSWORD)):
        pass


# The start of a greeting line that never ends: every read gets a byte, so no read ever times out.
GREETING_START = {"smtp": b"220-mail.test ", "imap": b"* OK ", "pop3": b"+OK "}


@pytest.mark.parametrize("protocol", ["smtp", "imap", "pop3"])
def test_a_server_that_accepts_and_never_answers_is_left_after_the_read_timeout(protocol: str) -> None:
    with loopback_server(silent) as server:
        started = time.monotonic()
        with pytest.raises(TransientError) as caught:
            _talk(protocol, server.port)
        elapsed = time.monotonic() - started

    assert elapsed < READ_TIMEOUT + SLACK
    assert "did not answer in time" in caught.value.explanation


@pytest.mark.parametrize("protocol", ["smtp", "imap", "pop3"])
def test_a_server_that_dribbles_forever_is_left_at_the_time_limit(protocol: str) -> None:
    with loopback_server(dribbling(GREETING_START[protocol])) as server:
        started = time.monotonic()
        with pytest.raises(TransientError) as caught:
            _talk(protocol, server.port)
        elapsed = time.monotonic() - started

    assert TIME_LIMIT - 0.5 < elapsed < TIME_LIMIT + SLACK
    assert "did not finish within 3 seconds" in caught.value.explanation


def test_the_portal_applies_the_time_limits_to_a_tenants_servers(admin_a: Any, tenant_a: Any) -> None:
    with (
        loopback_server(dribbling(GREETING_START["smtp"])) as smtp,
        loopback_server(dribbling(GREETING_START["imap"])) as imap,
    ):
        stored_smtp_server(admin_a.tenant, "127.0.0.1", smtp.port)
        source = stored_mail_source(tenant_a, "127.0.0.1", imap.port, "imap", security="none")
        started = time.monotonic()
        outbound = send_test_email(admin_a)
        [step] = run_connection_test(source)
        elapsed = time.monotonic() - started

    assert elapsed < 2 * TIME_LIMIT + SLACK
    assert outbound.status == OutboundStatus.FAILED and "did not finish within 3 seconds" in outbound.last_error
    assert not step["ok"] and "did not finish within 3 seconds" in step["detail"]


# --- what of a server's reply is shown ------------------------------------------------------------------------

SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3 internal-db-7.corp.local\r\n"
HOSTILE_LINE = b"\x1b[2J\x1b]0;pwned\x07ACCESS DENIED \xe2\x80\xae " + b"A" * 1500  # POP3 lines stop at 2048 bytes


def _printable(text: str) -> bool:
    return all(ord(ch) >= 0x20 and ch not in "\x7f\u2028\u2029\u202e" for ch in text)


@pytest.mark.parametrize("protocol", ["smtp", "imap", "pop3"])
def test_a_server_that_does_not_speak_the_protocol_never_has_its_banner_shown(
    admin_a: Any, tenant_a: Any, protocol: str
) -> None:
    with loopback_server(greeting_only(SSH_BANNER)) as server:
        if protocol == "smtp":
            stored_smtp_server(admin_a.tenant, "127.0.0.1", server.port)
            outbound = send_test_email(admin_a)
            shown = f"{outbound.last_error} {outbound.server_reply}"
        else:
            source = stored_mail_source(tenant_a, "127.0.0.1", server.port, protocol, security="none")
            [step] = run_connection_test(source)
            shown = step["detail"]

    assert f"does not answer like {'a' if protocol == 'pop3' else 'an'} {protocol.upper()} server" in shown
    assert "OpenSSH" not in shown and "corp.local" not in shown


def test_an_smtp_refusal_is_shown_as_one_short_clean_line(admin_a: Any) -> None:
    with loopback_server(greeting_only(b"554 5.7.1 " + HOSTILE_LINE + b"\r\n")) as server:
        stored_smtp_server(admin_a.tenant, "127.0.0.1", server.port)
        outbound = send_test_email(admin_a)

    assert outbound.status == OutboundStatus.FAILED
    assert "ACCESS DENIED" in outbound.server_reply and "ACCESS DENIED" in outbound.last_error
    assert _printable(outbound.server_reply) and _printable(outbound.last_error)
    assert len(outbound.server_reply) <= 200 and outbound.last_error.count("A") < 400


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_a_mailbox_refusal_is_shown_as_one_short_clean_line(tenant_a: Any, settings: Any, protocol: str) -> None:
    settings.TENANT_MAIL_ALLOW_PLAINTEXT_PASSWORDS = True  # the refusal comes at sign-in, on a plain test server
    if protocol == "imap":
        handler = imap_accepting(login_answer=b"NO " + HOSTILE_LINE)
    else:
        handler = greeting_only(b"-ERR " + HOSTILE_LINE + b"\r\n")
    with loopback_server(handler) as server:
        source = stored_mail_source(tenant_a, "127.0.0.1", server.port, protocol, security="none")
        steps = run_connection_test(source)

    detail = steps[-1]["detail"]
    assert not steps[-1]["ok"] and "ACCESS DENIED" in detail
    assert _printable(detail) and detail.count("A") < 400


# --- where a saved password may go --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change", [{"custom_host": "smtp.other.example"}, {"custom_port": "2525"}, {"custom_username": "x@alpha.example"}]
)
def test_network_asks_for_the_password_again_when_the_server_or_user_changes(
    admin_a_client: Client, admin_a: Any, change: dict[str, str]
) -> None:
    first = network_form("smtp.alpha.example", custom_username="relay@alpha.example", custom_password=PASSWORD)
    assert admin_a_client.post(NETWORK, first).status_code == 302

    response = admin_a_client.post(NETWORK, {**first, "custom_password": "", **change})

    assert response.status_code == 200
    assert "enter the password again" in str(response.context["form"].errors["custom_password"])
    server = OutgoingMailSettings.objects.get(tenant=admin_a.tenant).mail_server
    assert (server.host, server.port, server.password) == ("smtp.alpha.example", 587, PASSWORD)


def test_network_keeps_the_password_when_only_other_fields_change(admin_a_client: Client, admin_a: Any) -> None:
    first = network_form("smtp.alpha.example", custom_username="relay@alpha.example", custom_password=PASSWORD)
    admin_a_client.post(NETWORK, first)
    assert admin_a_client.post(NETWORK, {**first, "custom_password": "", "from_name": "Alpha"}).status_code == 302
    assert OutgoingMailSettings.objects.get(tenant=admin_a.tenant).mail_server.password == PASSWORD


def test_saving_another_smtp_server_without_a_password_drops_the_saved_one(admin_a: Any) -> None:
    values = {"kind": "custom", "protocol": "smtp", "port": 587, "username": "relay@alpha.example"}

    def change(host: str, password: str | None) -> OutgoingMailChange:
        server = MailServerValues(**values, host=host, password=password)
        return OutgoingMailChange(use_own_server=True, server=server, from_address="print@alpha.example")

    outgoing_mail_settings_save(tenant=admin_a.tenant, actor=admin_a, change=change("smtp.alpha.example", PASSWORD))
    saved = outgoing_mail_settings_save(
        tenant=admin_a.tenant, actor=admin_a, change=change("smtp.attacker.example", None)
    )
    assert saved.mail_server.host == "smtp.attacker.example" and saved.mail_server.password == ""


@pytest.mark.parametrize(
    "change", [{"custom_host": "imap.other.example"}, {"custom_port": "1993"}, {"custom_username": "x@alpha.example"}]
)
def test_jobs_asks_for_the_password_again_when_the_server_or_user_changes(
    admin_a_client: Client, tenant_a: Any, change: dict[str, str]
) -> None:
    first = jobs_form("imap.alpha.example", "imap")
    assert admin_a_client.post(JOBS, first).status_code == 302

    response = admin_a_client.post(JOBS, {**first, "custom_password": "", **change})

    assert response.status_code == 400
    assert "enter the password again" in str(response.context["form"].errors["custom_password"])
    server = MailJobSource.objects.get(tenant=tenant_a).mail_server
    assert (server.host, server.port, server.password) == ("imap.alpha.example", None, PASSWORD)


def test_saving_another_mail_server_without_a_password_drops_the_saved_one(tenant_a: Any, admin_a: Any) -> None:
    values = {"kind": "custom", "protocol": "imap", "host": "imap.alpha.example", "username": "print@alpha.example"}
    mail_source_save(tenant=tenant_a, values={}, server=MailServerValues(**values, password=PASSWORD))
    server = MailServerValues(**{**values, "host": "imap.attacker.example"})
    source = mail_source_save(tenant=tenant_a, values={}, server=server)
    assert source.mail_server.password == ""
    source.refresh_from_db()
    assert source.mail_server.password == ""


def test_jobs_refuses_a_password_without_tls_unless_the_operator_allows_it(
    admin_a_client: Client, tenant_a: Any, settings: Any
) -> None:
    response = admin_a_client.post(JOBS, jobs_form("imap.alpha.example", "imap", custom_security="none"))
    assert response.status_code == 400
    assert "never sent over an unencrypted connection" in str(response.context["form"].errors["custom_security"])
    assert MailJobSource.objects.get(tenant=tenant_a).mail_server.host == ""

    settings.TENANT_MAIL_ALLOW_PLAINTEXT_PASSWORDS = True
    assert admin_a_client.post(JOBS, jobs_form("imap.alpha.example", "imap", custom_security="none")).status_code == 302


def test_network_allows_a_password_without_tls_only_when_the_operator_does(
    admin_a_client: Client, settings: Any
) -> None:
    form = network_form("smtp.alpha.example", custom_security="none", custom_username="r@alpha.example")
    form["custom_password"] = PASSWORD
    assert admin_a_client.post(NETWORK, form).status_code == 200
    settings.TENANT_MAIL_ALLOW_PLAINTEXT_PASSWORDS = True
    assert admin_a_client.post(NETWORK, form).status_code == 302


@pytest.mark.parametrize("protocol", ["smtp", "imap", "pop3"])
def test_a_stored_password_is_never_sent_without_tls(admin_a: Any, tenant_a: Any, protocol: str) -> None:
    handlers = {"smtp": smtp_accepting(offer_auth=True), "imap": imap_accepting(), "pop3": pop3_accepting()}
    with loopback_server(handlers[protocol]) as server:
        if protocol == "smtp":
            login = {"username": "relay@alpha.example", "password": PASSWORD}
            stored_smtp_server(admin_a.tenant, "127.0.0.1", server.port, **login)
            outbound = send_test_email(admin_a)
            assert outbound.status == OutboundStatus.FAILED
            shown = outbound.last_error
        else:
            source = stored_mail_source(tenant_a, "127.0.0.1", server.port, protocol, security="none")
            shown = run_connection_test(source)[-1]["detail"]
        received = bytes(server.received)

    assert "without TLS" in shown
    assert PASSWORD.encode() not in received and base64.b64encode(PASSWORD.encode())[:8] not in received
    assert not any(verb in received.upper() for verb in (b"AUTH", b"LOGIN", b"PASS "))


# --- header values a tenant admin types ---------------------------------------------------------------------

CONTROL = ["Alpha\r\nBcc: victim@evil.example", "Alpha\nX-Injected: 1", "Alpha\rPrint", "Alpha\x1b[31m", "A\u2028B"]


@pytest.mark.parametrize("value", CONTROL)
def test_network_refuses_control_characters_in_the_display_name_and_user_name(
    admin_a_client: Client, value: str
) -> None:
    response = admin_a_client.post(NETWORK, network_form("smtp.alpha.example", from_name=value))
    assert "control characters" in str(response.context["form"].errors["from_name"])

    response = admin_a_client.post(
        NETWORK, network_form("smtp.alpha.example", custom_username=value, custom_password=PASSWORD)
    )
    assert "control characters" in str(response.context["form"].errors["custom_username"])
    assert not OutgoingMailSettings.objects.exists()


@pytest.mark.parametrize("field", ["custom_username", "folder", "move_to_folder"])
def test_jobs_refuses_control_characters_in_what_goes_into_mail_commands(
    admin_a_client: Client, tenant_a: Any, field: str
) -> None:
    form = jobs_form("imap.alpha.example", "imap", after_processing="move", **{field: "Printed\r\nA1 DELETE INBOX"})
    response = admin_a_client.post(JOBS, form)

    assert response.status_code == 400
    assert "control characters" in str(response.context["form"].errors[field])
    assert MailJobSource.objects.get(tenant=tenant_a).mail_server.host == ""


def test_a_stored_display_name_with_a_line_break_cannot_add_a_header(admin_a: Any) -> None:
    with loopback_server(smtp_accepting()) as server:
        stored_smtp_server(admin_a.tenant, "127.0.0.1", server.port, from_name="Alpha\r\nBcc: victim@evil.example")
        outbound = send_test_email(admin_a)
        received = bytes(server.received)

    assert outbound.status == OutboundStatus.SENT, outbound.last_error
    lines = received.split(b"\r\n")
    assert not [line for line in lines if line.lower().startswith(b"bcc:")]
    assert [line.lower() for line in lines if line.upper().startswith(b"RCPT")] == [b"rcpt to:<someone@example.net>"]
