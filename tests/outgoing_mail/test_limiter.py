"""The per-mailbox sending limit, with an injected clock instead of waiting a minute."""

from __future__ import annotations

import pytest

from outgoing_mail.limiter import send_slot_confirm, send_slot_release, send_slot_reserve

pytestmark = pytest.mark.django_db


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(settings):  # type: ignore[no-untyped-def]
    settings.OUTGOING_MAIL_RATE_LIMIT = 30
    settings.OUTGOING_MAIL_RATE_WINDOW_SECONDS = 60.0
    return FakeClock()


def test_thirty_a_minute_then_wait_until_the_oldest_leaves_the_window(clock: FakeClock) -> None:
    for second in range(30):
        clock.now = 1_000_000.0 + second
        slot = send_slot_reserve(key="exchange:a@contoso.com", now=clock)
        assert slot.granted
        send_slot_confirm(slot=slot, now=clock)

    clock.now = 1_000_030.0
    refused = send_slot_reserve(key="exchange:a@contoso.com", now=clock)
    assert not refused.granted and refused.wait == pytest.approx(30.0)

    clock.now = 1_000_060.0  # the first send is a minute old
    assert send_slot_reserve(key="exchange:a@contoso.com", now=clock).granted
    assert not send_slot_reserve(key="exchange:a@contoso.com", now=clock).granted


def test_a_slot_counts_from_when_the_server_accepted_the_message(clock: FakeClock, settings) -> None:  # type: ignore[no-untyped-def]
    settings.OUTGOING_MAIL_RATE_LIMIT = 2
    send_slot_confirm(slot=send_slot_reserve(key="k", now=clock), now=clock)
    slow = send_slot_reserve(key="k", now=clock)
    clock.now += 10.0
    send_slot_confirm(slot=slow, now=clock)  # the server accepted it 10 s after it started

    clock.now += 50.5  # a minute after the first, 50.5 s after the slow one was accepted
    assert send_slot_reserve(key="k", now=clock).granted
    blocked = send_slot_reserve(key="k", now=clock)
    assert not blocked.granted and blocked.wait == pytest.approx(9.5)


def test_a_released_slot_is_free_again(clock: FakeClock) -> None:
    slots = [send_slot_reserve(key="k", now=clock) for _ in range(30)]
    assert not send_slot_reserve(key="k", now=clock).granted
    send_slot_release(slot=slots[0])
    assert send_slot_reserve(key="k", now=clock).granted


def test_mailboxes_are_counted_apart(clock: FakeClock) -> None:
    for _ in range(30):
        send_slot_reserve(key="exchange:a@contoso.com", now=clock)
    assert send_slot_reserve(key="exchange:b@contoso.com", now=clock).granted


def test_finished_mail_is_forgotten_after_thirty_days(admin_a) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from django.utils import timezone

    from outgoing_mail.delivery import outbound_emails_prune
    from outgoing_mail.models import OutboundEmail

    old = timezone.now() - timedelta(days=31)
    OutboundEmail.objects.create(tenant=admin_a.tenant, from_email="a@x", message="", status="sent", created_at=old)
    kept = OutboundEmail.objects.create(
        tenant=admin_a.tenant, from_email="a@x", message="", status="queued", created_at=old
    )
    recent = OutboundEmail.objects.create(tenant=admin_a.tenant, from_email="a@x", message="", status="sent")

    assert outbound_emails_prune() == 1
    assert set(OutboundEmail.objects.values_list("pk", flat=True)) == {kept.pk, recent.pk}
