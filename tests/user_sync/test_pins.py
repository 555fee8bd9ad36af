"""PIN emails to new users, through the tenant's outgoing queue; a first sync above the bound asks first."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from outgoing_mail.models import OutboundEmail
from tests.user_sync.conftest import ADELE, CONTOSO, CONTOSO_ENABLED_MEMBERS, sync
from user_sync.services.pins import pin_emails_send


@pytest.fixture(autouse=True)
def _outgoing_queue(settings: Any) -> None:
    settings.EMAIL_BACKEND = "outgoing_mail.backends.QueuedEmailBackend"  # the portal's own: the tenant's queue


def pins_sent(run: Any) -> int:
    total = 0
    while sent := pin_emails_send(run_id=run.pk):  # each batch is a task; here, one after the other
        total += sent
    return total


def test_new_users_get_a_pin_by_email_once(m365: Any, sync_settings: Any) -> None:
    sync_settings.send_pin_email = True
    sync_settings.save()
    run = sync(sync_settings)
    assert run.pin_emails_waiting == 0
    assert pins_sent(run) == CONTOSO_ENABLED_MEMBERS
    assert pins_sent(run) == 0  # a redelivered task sends nothing twice
    message = OutboundEmail.objects.get(recipients=[ADELE])
    assert message.subject == "Your printer PIN"
    assert User.objects.get(email=ADELE).has_pin
    m365.control.add_user(CONTOSO, "new.person@contoso.onmicrosoft.com", displayName="New Person")
    later = sync(sync_settings)
    assert pins_sent(later) == 1


def test_a_first_sync_above_the_bound_asks_first(sync_settings: Any, admin_a_client: Client) -> None:
    sync_settings.send_pin_email = True
    sync_settings.pin_email_ask_above = 10
    sync_settings.save()
    run = sync(sync_settings)
    assert run.pin_emails_waiting == CONTOSO_ENABLED_MEMBERS
    assert any("PIN email" in note for note in run.notes)
    assert pin_emails_send(run_id=run.pk) == 0 and not OutboundEmail.objects.exists()
    page = admin_a_client.get(reverse("user_sync:page")).content.decode()
    assert f"{CONTOSO_ENABLED_MEMBERS} new users would get a PIN email" in page
    admin_a_client.post(reverse("user_sync:pin_emails", args=[run.pk]))
    run.refresh_from_db()
    assert run.pin_emails_waiting == 0
    assert pins_sent(run) == CONTOSO_ENABLED_MEMBERS
