"""Jobs via Email with "Accept only mail that Exchange Online authenticated": a sender's address is believed only
when Exchange Online's own headers vouch for it, never when the sender wrote them.

Mail reaches the mailbox as it reaches Exchange Online: from outside through the emulator's MX (which stamps SPF,
DKIM, DMARC and composite authentication as Exchange does; the seed gives alpha.example an SPF record permitting
127.0.0.1 only and a DMARC policy of reject), or submitted by a signed-in user of the organisation (internal).
"""

from __future__ import annotations

import smtplib
import ssl
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from typing import Any

import pytest
from django.core import mail
from django.test import TestCase

from mail_jobs.choices import Outcome
from mail_jobs.models import ProcessedMessage
from mail_jobs.services import mail_source_poll
from mail_servers.choices import ServerStatus
from microsoft.mailbox import MailLogin, MailProtocol, exchange_server, open_mailbox
from print_jobs.models import PrintJob
from tests.conftest import wait_until
from tests.factories import UserFactory
from tests.mail_jobs import conftest as mail_jobs_fixtures
from tests.mail_jobs.conftest import MAILBOX, SENDER, configure_source
from tests.mail_jobs.helpers import PDF, outlook_token

pytestmark = [pytest.mark.emulator, pytest.mark.usefixtures("mail_jobs_settings")]
exchange_system = mail_jobs_fixtures.exchange_system
sender = mail_jobs_fixtures.sender
mail_jobs_settings = mail_jobs_fixtures.mail_jobs_settings

RELAY, RELAY_PASSWORD = "relay@contoso.com", "Relay-Password-1"  # a Contoso mailbox that signs in to send
FORGED = (
    ("X-MS-Exchange-Organization-AuthAs", "Internal"),
    ("X-MS-Exchange-Organization-AuthSource", "EM2PR01MB0001.prod.outlook.com"),
    (
        "Authentication-Results",
        "spf=pass (sender IP is 203.0.113.7) smtp.mailfrom=alpha.example; dkim=pass (signature was verified) "
        "header.d=alpha.example;dmarc=pass action=none header.from=alpha.example;compauth=pass reason=100",
    ),
)


def _message(sender_address: str, subject: str, headers: tuple[tuple[str, str], ...] = ()) -> EmailMessage:
    message = EmailMessage()
    for name, value in headers:
        message[name] = value
    message["From"], message["To"], message["Subject"] = sender_address, MAILBOX, subject
    message.set_content("Please print.")
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename=f"{subject}.pdf")
    return message


def _from_outside(m365: Any, message: EmailMessage, *, client_ip: str = "127.0.0.1") -> None:
    """Through Exchange's MX, without signing in, from `client_ip` (any 127.x address reaches it on Linux)."""
    with smtplib.SMTP(m365.smtp_host, m365.mx_port, source_address=(client_ip, 0), timeout=10) as client:
        client.send_message(message)


def _from_inside(m365: Any, message: EmailMessage) -> None:
    with smtplib.SMTP(m365.smtp_host, m365.smtp_port, timeout=10) as client:
        client.starttls(context=ssl.create_default_context(cafile=str(m365.ca_path)))
        client.login(RELAY, RELAY_PASSWORD)
        client.send_message(message)


def _delivered(m365: Any, count: int) -> None:
    wait_until(lambda: len(m365.control.mail_messages(MAILBOX)) == count, message="delivery to the mailbox")


def _poll(source: Any) -> str:
    with TestCase.captureOnCommitCallbacks(execute=True):
        return mail_source_poll(source_id=source.pk).status


@pytest.fixture
def source(tenant_a: Any, admin_a: Any, exchange_system: Any) -> Any:
    source = configure_source(tenant_a, admin_a, exchange_system=exchange_system, exchange_authenticated_only=True)
    assert source.requires_exchange_authentication  # else the mail below would prove nothing
    return source


def test_a_forged_authentication_result_below_exchanges_is_not_believed(m365: Any, source: Any, sender: Any) -> None:
    # A stranger writes Pat's address and the headers of a message Exchange authenticated, from an address that
    # alpha.example's SPF record does not permit.
    _from_outside(m365, _message(SENDER, "Forged", FORGED), client_ip="127.0.0.66")
    _delivered(m365, 1)
    with open_mailbox(
        exchange_server(MailProtocol.IMAP), MailLogin(MAILBOX, access_token=outlook_token(m365, MAILBOX))
    ) as box:
        [ref] = box.messages()
        header = BytesHeaderParser(policy=policy.default).parsebytes(box.fetch_headers(ref))
    results = [str(value) for value in header.get_all("Authentication-Results", [])]
    assert "dmarc=fail" in results[0] and "dmarc=pass" in results[1]  # Exchange's on top, the forged one below
    assert header.get_all("X-MS-Exchange-Organization-AuthAs") == ["Anonymous"]  # Exchange's header firewall

    assert _poll(source) == ServerStatus.OK

    assert not PrintJob.objects.exists()
    record = ProcessedMessage.objects.get()
    assert record.outcome == Outcome.REJECTED
    assert "could not confirm that the message comes from pat@alpha.example" in record.reasons[0]
    assert "DMARC fail" in record.reasons[0]
    assert not mail.outbox and not record.replied  # a reply would go to Pat, whom the forger named
    assert m365.control.mail_messages(MAILBOX) == []


def test_mail_that_passed_dmarc_is_printed(m365: Any, source: Any, sender: Any) -> None:
    _from_outside(m365, _message(SENDER, "Genuine"))
    _delivered(m365, 1)

    assert _poll(source) == ServerStatus.OK

    assert list(PrintJob.objects.filter(owner=sender).values_list("title", flat=True)) == ["Genuine.pdf"]


def test_mail_from_inside_the_organisation_is_printed(m365: Any, source: Any, tenant_a: Any) -> None:
    relay_user = UserFactory(tenant=tenant_a, email=RELAY)
    _from_inside(m365, _message(RELAY, "Internal"))
    _delivered(m365, 1)

    assert _poll(source) == ServerStatus.OK

    assert list(PrintJob.objects.filter(owner=relay_user).values_list("title", flat=True)) == ["Internal.pdf"]


def test_mail_without_exchanges_verdict_is_refused(m365: Any, source: Any, sender: Any) -> None:
    """A message that did not come through Exchange's transport carries no verdict of Exchange's at all."""
    m365.control.put_mail(MAILBOX, bytes(_message(SENDER, "Unstamped", FORGED[2:])))

    assert _poll(source) == ServerStatus.OK

    assert not PrintJob.objects.exists()
    [record] = ProcessedMessage.objects.all()
    assert record.outcome == Outcome.REJECTED and "could not confirm" in record.reasons[0]


def test_the_option_is_off_by_default_and_then_forged_mail_still_prints(
    m365: Any, tenant_a: Any, admin_a: Any, exchange_system: Any, sender: Any
) -> None:
    source = configure_source(tenant_a, admin_a, exchange_system=exchange_system)
    assert not source.exchange_authenticated_only
    _from_outside(m365, _message(SENDER, "Forged", FORGED), client_ip="127.0.0.66")
    _delivered(m365, 1)

    assert _poll(source) == ServerStatus.OK
    assert PrintJob.objects.filter(owner=sender).count() == 1
