"""Tenants are served in turns: a tenant's backlog of 5,000 messages holds another tenant's first message back by
at most one batch, with a real worker on Redis."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from django.core.mail import EmailMessage
from django.utils import timezone

from config.celery import app
from outgoing_mail.choices import OutboundStatus
from outgoing_mail.models import OutboundEmail
from outgoing_mail.services import outbound_email_queue
from outgoing_mail.tasks import outbound_emails_send_in_turns
from tests.conftest import WorkerProcess, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
BACKLOG = 5000
BATCH = 50


@pytest.fixture
def one_worker(celery_worker_env: dict[str, str], tmp_path: Any) -> Any:
    """One mail worker taking one task at a time, delivering through the operator's backend (in memory)."""
    env = {
        **celery_worker_env,
        "EMAIL_BACKEND": "outgoing_mail.backends.QueuedEmailBackend",
        "OPERATOR_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "OUTGOING_MAIL_BATCH": str(BATCH),
    }
    worker = WorkerProcess(env, tmp_path / "mail-worker.log", name="mail", queues=("mail",), concurrency=1)
    app.control.purge()
    worker.start()
    yield worker
    worker.stop()
    app.control.purge()  # the next batch it queued: the backlog is not the next test's


def _backlog(tenant: Any) -> None:
    data = EmailMessage(subject="Backlog", body="One of many", to=["someone@example.net"]).message().as_bytes()
    message = base64.b64encode(data).decode()
    due = timezone.now() - timedelta(seconds=1)
    OutboundEmail.objects.bulk_create(
        OutboundEmail(
            tenant=tenant,
            subject="Backlog",
            from_email="noreply@roger.example",
            recipients=["someone@example.net"],
            message=message,
            next_attempt_at=due,
        )
        for _ in range(BACKLOG)
    )


def _sent(tenant: Any) -> int:
    return OutboundEmail.objects.filter(tenant=tenant, status=OutboundStatus.SENT).count()


def test_a_backlog_of_one_tenant_delays_another_tenants_first_mail_by_one_batch_at_most(
    tenant_a, tenant_b, settings, one_worker
):
    settings.EMAIL_BACKEND = "outgoing_mail.backends.QueuedEmailBackend"
    _backlog(tenant_a)
    outbound_emails_send_in_turns.delay()
    wait_until(lambda: _sent(tenant_a) >= 10, timeout=60, message="the backlog to be worked on")

    sent_before = _sent(tenant_a)
    first = outbound_email_queue(
        tenant=tenant_b, message=EmailMessage(subject="Bravo's first", body="Hello", to=["b@example.net"])
    )
    wait_until(lambda: OutboundEmail.objects.get(pk=first.pk).status == OutboundStatus.SENT, message="B's mail")

    first.refresh_from_db()
    assert first.sent_at is not None
    sent_ahead = OutboundEmail.objects.filter(tenant=tenant_a, sent_at__lte=first.sent_at).count() - sent_before
    # The batch in hand when B's mail arrived, then B's in the next batch, where A's oldest may go first.
    assert sent_ahead <= BATCH + 1, sent_ahead
    assert OutboundEmail.objects.filter(tenant=tenant_a, status=OutboundStatus.QUEUED).count() > BACKLOG / 2
