"""Abuse limits: count events per key in a sliding window, refuse (or lock out) when a key is full.

One mechanism for every limit of the portal: mail the portal sends on request (password reset, test email,
device-code email), the sign-in lockout (tenant and operator), and starts of Microsoft sign-ins; the outgoing mail
pacer (`outgoing_mail.limiter`) keeps its sends in the same windows under the same lock. A request is
checked against several keys at once (per recipient address, per tenant, per client); it is counted against all
of them or, when any is full, against none, so a refused request never extends its own wait.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from throttling.clients import client_key
from throttling.models import ThrottleWindow
from throttling.rates import Rate

logger = logging.getLogger(__name__)

DIMENSIONS = ("address", "tenant", "client")


@dataclass(frozen=True)
class Limit:
    key: str
    rate: Rate

    @property
    def label(self) -> str:
        """The key without its value (no address or email in the logs)."""
        return ":".join(self.key.split(":", 2)[:2])


class Throttled(Exception):
    """A limit is reached: nothing was done. `retry_after` is in seconds."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"Try again in {self.try_again_in}.")

    @property
    def try_again_in(self) -> str:
        return try_again_in(self.retry_after)


def try_again_in(seconds: float) -> str:
    """`1 minute`, `14 minutes`: a wait as people say it, rounded up."""
    minutes = max(1, math.ceil(seconds / 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def scope_limits(
    scope: str, *, address: str | None = None, tenant: str | None = None, client: str | None = None
) -> list[Limit]:
    """The limits of `scope` (`THROTTLE_RATES["<scope>.<dimension>"]`) for the values this request has."""
    values = {
        "address": address.strip().lower() if address else None,
        "tenant": tenant.strip().lower() if tenant else None,
        "client": client_key(client),
    }
    return [
        Limit(f"{scope}:{dimension}:{values[dimension]}", Rate.parse(settings.THROTTLE_RATES[f"{scope}.{dimension}"]))
        for dimension in DIMENSIONS
        if values[dimension]
    ]


def throttle_take(*, limits: Sequence[Limit], now: float | None = None) -> None:
    """Count one event against every limit, or raise `Throttled` (counting none) when any of them is full."""
    current = time.time() if now is None else now
    with transaction.atomic():
        windows = _locked([limit.key for limit in limits], current)
        waits = {limit: limit.rate.retry_after(windows[limit.key].hits, current) for limit in limits}
        full = [limit for limit, wait in waits.items() if wait > 0]
        if full:
            logger.info("Throttled: %s full", ", ".join(limit.label for limit in full))
            raise Throttled(max(waits.values()))
        for limit in limits:
            _append(windows[limit.key], limit.rate, current)


@contextmanager
def throttle_window_locked(*, key: str, rate: Rate, now: float) -> Iterator[ThrottleWindow]:
    """The window of `key`, locked, for a policy of its own (the outgoing mail pacer reserves and gives back
    slots); the `hits` it leaves are saved, those older than the rate's horizon dropped."""
    with transaction.atomic():
        window = _locked([key], now)[key]
        yield window
        _save(window, rate, now)


def throttle_give_back(*, limits: Sequence[Limit], at: float) -> None:
    """Take back the event counted at `at` (an attempt that turned out not to be abuse: a good password)."""
    with transaction.atomic():
        windows = _locked([limit.key for limit in limits], at)
        for limit in limits:
            window = windows[limit.key]
            if at in window.hits:
                window.hits.remove(at)
                _save(window, limit.rate, at)


def throttle_forget(*, keys: Sequence[str]) -> None:
    """Forget a key's events (a successful sign-in clears the account's failures)."""
    ThrottleWindow.objects.filter(key__in=keys).delete()


def throttle_windows_prune() -> int:
    """Delete the windows whose events no longer count."""
    deleted, _ = ThrottleWindow.objects.filter(expires_at__lt=timezone.now()).delete()
    return deleted


def _locked(keys: Sequence[str], now: float) -> dict[str, ThrottleWindow]:
    """The windows of `keys`, created when missing, locked until the surrounding transaction ends."""
    for key in sorted(set(keys)):  # one order for everybody: no deadlock between two requests
        # A write before any read: it takes PostgreSQL's row lock, and SQLite's database write lock, at once. A
        # read first would let two processes count the same events (and, on SQLite, fail to upgrade their lock).
        if ThrottleWindow.objects.filter(key=key).update(key=key):
            continue
        try:
            with transaction.atomic():
                ThrottleWindow.objects.create(key=key, expires_at=_datetime(now))
        except IntegrityError:  # created by another request meanwhile: wait for its lock like everybody
            ThrottleWindow.objects.filter(key=key).update(key=key)
    return {window.key: window for window in ThrottleWindow.objects.filter(key__in=keys)}


def _append(window: ThrottleWindow, rate: Rate, now: float) -> None:
    window.hits = [*window.hits, now]
    _save(window, rate, now)


def _save(window: ThrottleWindow, rate: Rate, now: float) -> None:
    window.hits = sorted(hit for hit in window.hits if hit > now - rate.horizon)
    window.expires_at = _datetime(max(window.hits, default=now) + rate.horizon)
    window.save(update_fields=["hits", "expires_at"])


def _datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)
