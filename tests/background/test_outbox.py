"""Notices go through an outbox: the email is queued in the transaction that records the notice, and a notice
committed while the broker is away is delivered once by the sweep, without silencing later notices."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from background.kinds import work_sweep
from notifications.models import AdminNotification
from notifications.services import admins_notify
from outgoing_mail.choices import OutboundStatus
from outgoing_mail.delivery import SWEEP_GRACE
from outgoing_mail.models import OutboundEmail
from tests.background.conftest import broker_unavailable
from tests.conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queued_mail(settings: Any) -> None:
    settings.EMAIL_BACKEND = "outgoing_mail.backends.QueuedEmailBackend"  # pytest-django's default is locmem


@pytest.fixture
def celery_worker_env(celery_worker_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The worker delivers portal mail to files, one per message, so that deliveries can be counted."""
    return {
        **celery_worker_env,
        "EMAIL_BACKEND": "outgoing_mail.backends.QueuedEmailBackend",
        "OPERATOR_EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path / "delivered"),
    }


def _sweep_a_while_later() -> int:
    """The beat's sweep, once the queued mail has waited longer than its grace (time passes: rows age)."""
    OutboundEmail.objects.filter(next_attempt_at__isnull=False).update(
        next_attempt_at=timezone.now() - SWEEP_GRACE - timedelta(seconds=1)
    )
    return work_sweep()["outgoing_mail.delivery"]


def _delivered(worker_env: dict[str, str], subject: str) -> int:
    files = Path(worker_env["EMAIL_FILE_PATH"]).glob("*.log")
    return sum(path.read_text().count(f"Subject: {subject}") for path in files)


def _sent(subject: str) -> bool:
    return OutboundEmail.objects.filter(subject=subject, status=OutboundStatus.SENT).exists()


def test_a_notice_committed_while_the_broker_is_away_is_sent_once_by_the_sweep(
    admin_a, queued_mail, celery_worker, celery_worker_env
):
    with broker_unavailable(), transaction.atomic():  # the commit itself must not fail for the broker
        told = admins_notify(tenant=admin_a.tenant, key="problem:1", subject="Reconnect the mailbox", body="Please")

    assert told
    (queued,) = OutboundEmail.objects.filter(subject="Reconnect the mailbox")
    assert queued.status == OutboundStatus.QUEUED and queued.recipients == [admin_a.email]
    assert AdminNotification.objects.get(key="problem:1").sent_at is not None

    assert _sweep_a_while_later() == 1
    wait_until(lambda: _sent("Reconnect the mailbox"), message="the sweep to send the notice")
    assert _sweep_a_while_later() == 0, "nothing left to send"

    assert not admins_notify(tenant=admin_a.tenant, key="problem:1", subject="Reconnect the mailbox", body="Again")
    assert admins_notify(tenant=admin_a.tenant, key="problem:2", subject="Grant consent again", body="Please")
    wait_until(lambda: _sent("Grant consent again"), message="the later, different notice")
    assert _delivered(celery_worker_env, "Reconnect the mailbox") == 1
    assert _delivered(celery_worker_env, "Grant consent again") == 1


def test_a_notice_left_unsent_by_an_older_release_is_sent_when_the_problem_is_reported_again(admin_a, queued_mail):
    AdminNotification.objects.create(tenant=admin_a.tenant, key="problem:1", subject="Reconnect", body="Please")

    assert admins_notify(tenant=admin_a.tenant, key="problem:1", subject="Reconnect", body="Please")
    assert not admins_notify(tenant=admin_a.tenant, key="problem:1", subject="Reconnect", body="Please")

    assert OutboundEmail.objects.filter(subject="Reconnect").count() == 1
