"""Exchange Online accepts 30 messages a minute per mailbox over SMTP AUTH; we stay under it on our side.

A sliding window per sending mailbox, kept in the portal's one store of recent events (`throttling`: a row per key,
changed only under a lock), so every Celery worker on every host shares one count without Redis (the demo runs on
the filesystem broker) and without a lock that outlives a crashed worker. Unlike the abuse limits, this one never
refuses: it says how long to wait, and the message is sent then.

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

from throttling.rates import Rate
from throttling.services import throttle_window_locked

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


def _rate() -> Rate:
    limit, window = rate_limit()
    return Rate(count=limit, seconds=window)


def _store_key(key: str) -> str:
    return f"outgoing_mail:mailbox:{key}"


def send_slot_reserve(*, key: str, now: Clock = time.time) -> SendSlot:
    """Reserve a slot for one message from mailbox `key`, or say how long to wait for one."""
    rate, current = _rate(), now()
    with throttle_window_locked(key=_store_key(key), rate=rate, now=current) as window:
        wait = rate.retry_after(window.hits, current)
        if wait > 0:
            return SendSlot(key, wait=max(wait, 0.05))
        window.hits = [*window.hits, current]
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
    with throttle_window_locked(key=_store_key(slot.key), rate=_rate(), now=at or slot.reserved_at) as window:
        times = list(window.hits)
        if slot.reserved_at in times:
            times.remove(slot.reserved_at)
        if at is not None:
            times.append(max(at, slot.reserved_at))
        window.hits = times
