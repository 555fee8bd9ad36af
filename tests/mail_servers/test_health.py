"""A mail server's status in the one health vocabulary."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from health import HealthState
from mail_servers.choices import ServerStatus
from mail_servers.selectors import mail_server_health
from mail_servers.services import mail_server_status_record
from tests.factories import MailServerAccountFactory

pytestmark = pytest.mark.django_db


def test_each_status_is_a_health() -> None:
    account = MailServerAccountFactory()
    assert mail_server_health(account).state == HealthState.OFF  # not used yet

    mail_server_status_record(account_id=account.pk, status=ServerStatus.OK)
    account.refresh_from_db()
    assert mail_server_health(account).state == HealthState.OK

    mail_server_status_record(
        account_id=account.pk, status=ServerStatus.NEEDS_ACTION, reason="Reconnect.", fix_url="/x/"
    )
    account.refresh_from_db()
    health = mail_server_health(account)
    assert (health.state, health.reason, health.fix_url, health.fix_label) == (
        HealthState.NEEDS_ACTION,
        "Reconnect.",
        "/x/",
        "Reconnect",
    )


def test_a_server_failing_again_and_again_says_since_when_and_when_it_is_tried_next() -> None:
    account = MailServerAccountFactory()
    mail_server_status_record(account_id=account.pk, status=ServerStatus.FAILED, reason="It timed out.")
    account.refresh_from_db()
    first = account.status_since
    mail_server_status_record(account_id=account.pk, status=ServerStatus.FAILED, reason="It timed out again.")
    account.refresh_from_db()

    next_poll = timezone.now() + timedelta(minutes=5)
    health = mail_server_health(account, next_try=next_poll)
    assert (health.state, health.reason, health.since, health.next_try) == (
        HealthState.RETRYING,
        "It timed out again.",
        first,
        next_poll,
    )
    assert not health.needs_attention()
    assert health.needs_attention(now=first + timedelta(days=1))  # a day of failures wants a person
