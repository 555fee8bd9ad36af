"""Mail sent through the emulator's SMTP server to one of its mailboxes arrives there, as Exchange delivers it."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

import pytest

from tests.conftest import wait_until

pytestmark = pytest.mark.emulator
JOBS_MAILBOX = "printing@contoso.onmicrosoft.com"


def test_mail_submitted_over_smtp_is_delivered_to_the_recipients_mailbox(m365: Any) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "relay@contoso.com", JOBS_MAILBOX, "Please print"
    message.set_content("See attached.")
    message.add_attachment(b"%PDF-1.4 hello", maintype="application", subtype="pdf", filename="hello.pdf")

    with smtplib.SMTP(m365.smtp_host, m365.smtp_port, timeout=10) as client:
        client.starttls(context=ssl.create_default_context(cafile=str(m365.ca_path)))
        client.login("relay@contoso.com", "Relay-Password-1")
        client.send_message(message)

    delivered = wait_until(lambda: m365.control.mail_messages(JOBS_MAILBOX), message="delivery to the mailbox")
    assert any("Please print" in str(item) for item in delivered)


def test_mail_for_outside_domains_is_kept_but_not_delivered_locally(m365: Any) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "relay@contoso.com", "someone@example.org", "Outside"
    message.set_content("Hello")

    with smtplib.SMTP(m365.smtp_host, m365.smtp_port, timeout=10) as client:
        client.starttls(context=ssl.create_default_context(cafile=str(m365.ca_path)))
        client.login("relay@contoso.com", "Relay-Password-1")
        client.send_message(message)

    assert [m for m in m365.control.smtp_messages(to="someone@example.org")]
    assert m365.control.mail_messages(JOBS_MAILBOX) == []
