"""microsoft.smtp against the emulator's Exchange SMTP endpoint: real smtplib, real sockets, real TLS."""

from __future__ import annotations

import base64
import smtplib
import socket
import ssl
from email.message import EmailMessage
from typing import Any

import pytest

from microsoft import errors
from microsoft.mail_connection import Security, xoauth2_string
from microsoft.smtp import (
    OutgoingMessage,
    PasswordLogin,
    SmtpAuthDisabled,
    SmtpAuthenticationFailed,
    SmtpSendAsDenied,
    SmtpServer,
    XOAuth2Login,
    exchange_server,
    smtp_send,
)
from tests.outgoing_mail.conftest import (
    CONTOSO,
    CONTOSO_ADMIN,
    GRAPH_DEVICE_APP,
    MAILBOX,
    OTHER_USER,
    RELAY_ACCOUNT,
    RELAY_PASSWORD,
    SHARED_MAILBOX,
    device_code_token,
)

pytestmark = pytest.mark.emulator


def message(sender: str, to: str = "someone@example.net", subject: str = "Hello") -> OutgoingMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, to, subject
    mail.set_content("Printed with love.")
    return OutgoingMessage(envelope_from=sender, recipients=(to,), data=mail.as_bytes())


def custom_server(m365: Any, security: Security = Security.STARTTLS) -> SmtpServer:
    port = m365.smtps_port if security == Security.SSL else m365.smtp_port
    return SmtpServer(host=m365.smtp_host, port=port, security=security, ca_bundle=str(m365.ca_path), timeout=10)


def test_xoauth2_as_the_connected_mailbox_is_delivered(m365: Any, smtp_token: str) -> None:
    smtp_send(server=exchange_server(), login=XOAuth2Login(MAILBOX, smtp_token), message=message(MAILBOX))

    [received] = m365.control.smtp_messages(to="someone@example.net")
    assert received["mailbox"] == MAILBOX and received["mechanism"] == "XOAUTH2"
    assert received["subject"] == "Hello" and received["text"].strip() == "Printed with love."


def test_auth_is_offered_only_after_starttls_and_the_continuation_form_works(m365: Any, smtp_token: str) -> None:
    client = smtplib.SMTP(m365.smtp_host, m365.smtp_port, timeout=10)
    try:
        client.ehlo()
        assert not client.has_extn("auth") and client.has_extn("starttls")
        client.starttls(context=ssl.create_default_context(cafile=str(m365.ca_path)))
        client.ehlo()
        assert "XOAUTH2" in client.esmtp_features["auth"].split()
        code, _ = client.docmd("AUTH", "XOAUTH2")
        assert code == 334
        code, reply = client.docmd(base64.b64encode(xoauth2_string(MAILBOX, smtp_token).encode()).decode())
        assert (code, reply) == (235, b"2.7.0 Authentication successful")
    finally:
        client.close()


def test_mail_before_auth_is_refused(m365: Any) -> None:
    client = smtplib.SMTP(m365.smtp_host, m365.smtp_port, timeout=10)
    try:
        client.starttls(context=ssl.create_default_context(cafile=str(m365.ca_path)))
        client.ehlo()
        code, _ = client.mail(MAILBOX)
        assert code == 530
    finally:
        client.close()


def test_a_token_the_emulator_did_not_issue_gets_535_5_7_3(m365: Any) -> None:
    with pytest.raises(SmtpAuthenticationFailed) as caught:
        smtp_send(server=exchange_server(), login=XOAuth2Login(MAILBOX, "not-a-token"), message=message(MAILBOX))

    assert caught.value.smtp_code == 535 and caught.value.enhanced_code == "5.7.3"
    assert "Authentication unsuccessful" in caught.value.description
    assert "Authenticated SMTP" in caught.value.explanation and "Set-CASMailbox" in caught.value.explanation
    assert m365.control.smtp_messages() == []


def test_smtp_auth_disabled_for_the_directory_is_explained(m365: Any, smtp_token: str) -> None:
    m365.control.set_smtp_auth(CONTOSO, False)

    with pytest.raises(SmtpAuthDisabled) as caught:
        smtp_send(server=exchange_server(), login=XOAuth2Login(MAILBOX, smtp_token), message=message(MAILBOX))

    assert caught.value.enhanced_code == "5.7.139"
    assert "SmtpClientAuthentication is disabled for the Tenant" in caught.value.description
    explanation = caught.value.explanation
    assert "SMTP AUTH is disabled for your Microsoft tenant" in explanation
    assert "Manage email apps" in explanation and "-SmtpClientAuthenticationDisabled $false" in explanation


def test_a_graph_token_is_not_accepted(m365: Any) -> None:
    graph = device_code_token(m365, MAILBOX, client_id=GRAPH_DEVICE_APP, scopes=("User.Read",), tenant=CONTOSO)

    with pytest.raises(SmtpAuthenticationFailed):
        smtp_send(
            server=exchange_server(), login=XOAuth2Login(MAILBOX, graph["access_token"]), message=message(MAILBOX)
        )


def test_a_token_expired_on_the_emulator_clock_is_refused(m365: Any, smtp_token: str) -> None:
    m365.control.advance_clock(2 * 3600)

    with pytest.raises(SmtpAuthenticationFailed):
        smtp_send(server=exchange_server(), login=XOAuth2Login(MAILBOX, smtp_token), message=message(MAILBOX))


def test_user_must_be_the_tokens_mailbox(m365: Any, smtp_token: str) -> None:
    with pytest.raises(SmtpAuthenticationFailed):
        smtp_send(server=exchange_server(), login=XOAuth2Login(OTHER_USER, smtp_token), message=message(OTHER_USER))


def test_shared_mailbox_with_send_as_permission(m365: Any) -> None:
    admin_token = device_code_token(m365, CONTOSO_ADMIN)["access_token"]
    smtp_send(
        server=exchange_server(), login=XOAuth2Login(SHARED_MAILBOX, admin_token), message=message(SHARED_MAILBOX)
    )
    [received] = m365.control.smtp_messages(mailbox=SHARED_MAILBOX)
    assert received["token_user"] == CONTOSO_ADMIN

    adele_token = device_code_token(m365, OTHER_USER)["access_token"]
    with pytest.raises(SmtpAuthenticationFailed):
        smtp_send(
            server=exchange_server(), login=XOAuth2Login(SHARED_MAILBOX, adele_token), message=message(SHARED_MAILBOX)
        )


def test_from_another_address_is_send_as_denied(m365: Any, smtp_token: str) -> None:
    with pytest.raises(SmtpSendAsDenied) as caught:
        smtp_send(server=exchange_server(), login=XOAuth2Login(MAILBOX, smtp_token), message=message(CONTOSO_ADMIN))
    assert caught.value.enhanced_code == "5.7.60"
    assert "Send As" in caught.value.explanation


def test_password_login_on_starttls_and_on_implicit_tls(m365: Any) -> None:
    login = PasswordLogin(RELAY_ACCOUNT, RELAY_PASSWORD)
    smtp_send(server=custom_server(m365), login=login, message=message(RELAY_ACCOUNT, subject="starttls"))
    smtp_send(server=custom_server(m365, Security.SSL), login=login, message=message(RELAY_ACCOUNT, subject="ssl"))

    received = m365.control.smtp_messages(mailbox=RELAY_ACCOUNT)
    assert [m["subject"] for m in received] == ["starttls", "ssl"]
    assert {m["mechanism"] for m in received} <= {"LOGIN", "PLAIN"}


def test_a_wrong_password_is_explained(m365: Any) -> None:
    with pytest.raises(SmtpAuthenticationFailed) as caught:
        smtp_send(
            server=custom_server(m365), login=PasswordLogin(RELAY_ACCOUNT, "wrong"), message=message(RELAY_ACCOUNT)
        )
    assert "refused the user name 'relay@contoso.com' or its password" in caught.value.explanation
    assert "wrong" not in caught.value.explanation + caught.value.description


def test_an_untrusted_certificate_is_a_configuration_error(m365: Any) -> None:
    server = SmtpServer(host=m365.smtp_host, port=m365.smtp_port, security=Security.STARTTLS, timeout=10)
    with pytest.raises(errors.ConfigurationError) as caught:
        smtp_send(server=server, login=PasswordLogin(RELAY_ACCOUNT, RELAY_PASSWORD), message=message(RELAY_ACCOUNT))
    assert caught.value.error == "tls_error" and "could not be verified" in caught.value.explanation


def test_an_unreachable_server_is_transient(m365: Any) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = SmtpServer(host="127.0.0.1", port=port, security=Security.STARTTLS, timeout=5)
    with pytest.raises(errors.TransientError) as caught:
        smtp_send(server=server, login=None, message=message(RELAY_ACCOUNT))
    assert "connection was refused" in caught.value.explanation


def test_the_emulator_throttles_per_mailbox_with_a_4xx(m365: Any) -> None:
    m365.control.set_smtp_throttle(limit=2, window_seconds=600)
    login = PasswordLogin(RELAY_ACCOUNT, RELAY_PASSWORD)
    for _ in range(2):
        smtp_send(server=custom_server(m365), login=login, message=message(RELAY_ACCOUNT))

    with pytest.raises(errors.TransientError) as caught:
        smtp_send(server=custom_server(m365), login=login, message=message(RELAY_ACCOUNT))
    assert "4.7.500" in caught.value.error
    assert len(m365.control.smtp_events(kind="throttled")) == 1


def test_one_message_goes_to_every_recipient(m365: Any, smtp_token: str) -> None:
    sent = OutgoingMessage(
        envelope_from=MAILBOX,
        recipients=("a@example.net", "b@example.net"),
        data=f"From: {MAILBOX}\r\nSubject: To both\r\n\r\nBody\r\n".encode(),
    )

    assert smtp_send(server=exchange_server(), login=XOAuth2Login(MAILBOX, smtp_token), message=sent) == {}
    [received] = m365.control.smtp_messages(to="b@example.net")
    assert received["rcpt_tos"] == ["a@example.net", "b@example.net"] and received["subject"] == "To both"
