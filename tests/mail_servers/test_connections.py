"""From an account to what microsoft/ connects with: the one resolver for sending and for reading mail."""

from __future__ import annotations

from typing import Any

import pytest

from external_systems.choices import SystemStatus
from mail_servers.connections import MailServerNotConfigured, mailbox_connection, smtp_connection
from microsoft.mail_connection import Security
from microsoft.mailbox import MailProtocol
from microsoft.smtp import PasswordLogin
from tests.factories import MailServerAccountFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("protocol", "security", "port"),
    [("imap", "ssl", 993), ("imap", "starttls", 143), ("pop3", "ssl", 995), ("pop3", "none", 110)],
)
def test_an_empty_port_is_the_usual_one_of_the_protocol_and_security(protocol: str, security: str, port: int) -> None:
    account = MailServerAccountFactory(protocol=protocol, security=security, port=None)
    connection = mailbox_connection(account, folder="Print")

    assert (connection.server.protocol, connection.server.port) == (MailProtocol(protocol), port)
    assert connection.server.security == Security(security) and connection.server.rules is not None
    assert connection.folder == ("Print" if protocol == "imap" else "INBOX")
    assert connection.login().password == "Top-Secret-1" and "with a password" in connection.sign_in_label


def test_a_custom_smtp_server_signs_in_only_with_a_user_name() -> None:
    relay = MailServerAccountFactory(protocol="smtp", security="starttls", port=587, username="", password="")
    assert smtp_connection(relay).login() is None and smtp_connection(relay).server.security == Security.STARTTLS

    account = MailServerAccountFactory(protocol="smtp", security="ssl", port=None)
    connection = smtp_connection(account)
    assert connection.server.port == 465 and connection.login() == PasswordLogin("print@alpha.example", "Top-Secret-1")


def test_exchange_online_is_its_endpoint_from_settings_as_the_connected_or_shared_mailbox(settings: Any) -> None:
    settings.MICROSOFT_IMAP_HOST, settings.MICROSOFT_SMTP_HOST = "imap.exchange.test", "smtp.exchange.test"
    account = MailServerAccountFactory(exchange=True, protocol="imap")
    connected = account.exchange_system.mailbox

    connection = mailbox_connection(account)
    assert connection.server.host == "imap.exchange.test" and connection.server.rules is None
    assert connection.mailbox == connected and "OAuth" in connection.sign_in_label

    account.shared_mailbox = "printers@alpha.example"
    assert mailbox_connection(account).mailbox == "printers@alpha.example"
    account.protocol = "smtp"
    assert smtp_connection(account).server.host == "smtp.exchange.test"
    assert smtp_connection(account).mailbox == "printers@alpha.example" and smtp_connection(account).is_exchange


@pytest.mark.parametrize("how", ["none chosen", "disconnected", "another tenant's"])
def test_an_exchange_system_that_cannot_be_used_says_what_to_do(how: str) -> None:
    account = MailServerAccountFactory(exchange=True)
    system = account.exchange_system
    if how == "none chosen":
        account.exchange_system = None
    elif how == "disconnected":
        system.status, system.mailbox = SystemStatus.NOT_CONNECTED, ""
    else:
        system.tenant = MailServerAccountFactory().tenant

    with pytest.raises(MailServerNotConfigured, match="Settings > External Systems"):
        mailbox_connection(account)


def test_a_custom_mailbox_needs_a_host_and_a_user_name() -> None:
    with pytest.raises(MailServerNotConfigured, match="host and the user name"):
        mailbox_connection(MailServerAccountFactory(host=""))
    with pytest.raises(MailServerNotConfigured, match="host and the user name"):
        mailbox_connection(MailServerAccountFactory(username=""))
