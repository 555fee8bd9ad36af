"""Exchange Online accepts 30 messages a minute per mailbox over SMTP AUTH; we stay under it on our side.

A sliding window per sending mailbox, kept in a database row (`MailboxSendWindow`) and changed only under
`SELECT ... FOR UPDATE`, so every Celery worker on every host shares one count without Redis (the demo runs on
the filesystem broker) and without a lock that outlives a crashed worker.

A send reserves a slot at its start and confirms it with the time the server accepted the message. Counting the
acceptance time, not the start, keeps us under the server's own window even when one connection was slow (the
server counts at DATA; we never start message N+limit until `window` after message N was accepted).

The clock is injectable (`now`), and the limit and window come from settings, so tests prove the behaviour
with a small window instead of waiting a minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from outgoing_mail.models import MailboxSendWindow

Clock = Callable[[], float]


@dataclass(frozen=True)
class SendSlot:
    """`wait` is 0 when the message may go now (its slot is then reserved at `reserved_at`)."""

    key: str
    wait: float
    reserved_at: float | None = None

    @property
    def granted(self) -> bool:
        return self.wait <= 0


def rate_limit() -> tuple[int, float]:
    return int(settings.OUTGOING_MAIL_RATE_LIMIT), float(settings.OUTGOING_MAIL_RATE_WINDOW_SECONDS)


def _locked_window(key: str) -> MailboxSendWindow:
    try:
        with transaction.atomic():
            MailboxSendWindow.objects.get_or_create(key=key)
    except IntegrityError:  # another worker created it at the same moment
        pass
    return MailboxSendWindow.objects.select_for_update().get(key=key)


def send_slot_reserve(*, key: str, now: Clock = time.time) -> SendSlot:
    """Reserve a slot for one message from mailbox `key`, or say how long to wait for one."""
    limit, window = rate_limit()
    with transaction.atomic():
        row = _locked_window(key)
        current = now()
        recent = sorted(t for t in row.sent_at if t > current - window)
        if len(recent) >= limit:
            row.sent_at = recent
            row.save(update_fields=["sent_at", "updated_at"])
            return SendSlot(key, wait=max(recent[len(recent) - limit] + window - current, 0.05))
        row.sent_at = [*recent, current]
        row.save(update_fields=["sent_at", "updated_at"])
        return SendSlot(key, wait=0.0, reserved_at=current)


def send_slot_confirm(*, slot: SendSlot, now: Clock = time.time) -> None:
    """The server accepted the message: count it from now."""
    _replace(slot, now())


def send_slot_release(*, slot: SendSlot) -> None:
    """The message never reached the server (refused at connect or sign-in): give the slot back."""
    _replace(slot, None)


def _replace(slot: SendSlot, at: float | None) -> None:
    if slot.reserved_at is None:
        return
    with transaction.atomic():
        row = _locked_window(slot.key)
        times = list(row.sent_at)
        if slot.reserved_at in times:
            times.remove(slot.reserved_at)
        if at is not None:
            times.append(max(at, slot.reserved_at))
        row.sent_at = sorted(times)
        row.save(update_fields=["sent_at", "updated_at"])
