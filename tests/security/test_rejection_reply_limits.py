"""Jobs via Email answers a message it cannot print with a "not printed" reply to the sender, and anyone can forge
the sender: a flood of mail to the jobs mailbox must not turn the tenant's server into a cannon aimed at one
address (backscatter). Replies are limited per address and per tenant; the messages are still recorded as rejected."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.test import TestCase

from mail_jobs.choices import Outcome
from mail_jobs.models import ProcessedMessage
from mail_jobs.services import mail_source_poll
from tests.mail_jobs.conftest import MAILBOX, configure_source, connect_exchange_system
from tests.mail_jobs.helpers import PDF, mail_with_attachments

pytestmark = pytest.mark.emulator
VICTIM = "victim@example.net"


@pytest.fixture
def jobs_source(m365: Any, tenant_a: Any, admin_a: Any, settings: Any) -> Any:
    """Jobs via Email on the emulator's Exchange Online mailbox, replying to what it cannot print."""
    settings.CUSTOM_MAIL_CA_BUNDLE = str(m365.ca_path)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    system = connect_exchange_system(tenant=tenant_a, actor=admin_a, m365=m365)
    return configure_source(tenant_a, admin_a, exchange_system=system, reply_on_rejection=True)


def flood(m365: Any, count: int, sender: str = VICTIM) -> None:
    for n in range(count):
        message = mail_with_attachments(
            sender=sender, to=MAILBOX, subject=f"Print {n}", attachments=[("a.pdf", "application/pdf", PDF)]
        )
        m365.control.put_mail(MAILBOX, message)


def poll(source: Any) -> None:
    with TestCase.captureOnCommitCallbacks(execute=True):  # replies go out once the message's outcome commits
        mail_source_poll(source_id=source.pk)


@pytest.mark.parametrize("dimension", ["address", "tenant"])
def test_rejection_replies_are_limited_and_every_message_is_still_rejected(
    m365: Any, jobs_source: Any, settings: Any, dimension: str
) -> None:
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, f"rejection_reply.{dimension}": "2/h"}
    flood(m365, 2)
    flood(m365, 1, sender=VICTIM if dimension == "address" else "another.victim@example.net")

    poll(jobs_source)

    assert ProcessedMessage.objects.filter(outcome=Outcome.REJECTED).count() == 3
    assert [message.to for message in mail.outbox] == [[VICTIM], [VICTIM]]
