"""What the OneDrive background work shares: a lease kept alive while a long transfer runs, and how a failure
turns into the row's next state (retry at Microsoft's Retry-After, stop for a reconnect, or fail with the reason).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, BinaryIO

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from background.claims import Claim, retry_delay, work_renew
from microsoft import errors as microsoft_errors
from onedrive.errors import OneDriveError, ReconnectNeeded

RETRY_FIRST = timedelta(seconds=30)
RETRY_MAX = timedelta(hours=1)
MAX_ATTEMPTS = 10


def lease() -> timedelta:
    """How long a worker holds a row between renewals; a killed worker's row is taken up again after it."""
    return timedelta(seconds=settings.ONEDRIVE_WORK_LEASE_SECONDS)


class LeaseKeepingFile:
    """A file whose reads and writes renew the worker's claim every third of the lease: an upload or download of a
    large file takes minutes, and the sweep must take the row back only from a worker that died. Renewing in the
    worker's own thread, as the bytes move, means a stalled transfer stops renewing too."""

    def __init__(self, file: BinaryIO, rows: QuerySet[Any], claim: Claim) -> None:
        self._file = file
        self._rows = rows
        self._claim = claim
        self._every = lease().total_seconds() / 3
        self._renewed = time.monotonic()

    def _tick(self) -> None:
        if time.monotonic() - self._renewed >= self._every:
            work_renew(self._rows, self._claim, lease=lease())
            self._renewed = time.monotonic()

    def read(self, size: int = -1) -> bytes:
        self._tick()
        return self._file.read(size)

    def write(self, data: bytes) -> int:
        self._tick()
        return self._file.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


@dataclass(frozen=True)
class Outcome:
    """A failed attempt's consequence: the fields to release the row with, and the countdown of a retry."""

    fields: dict[str, Any]
    retry_in: float | None = None


def failure_outcome(exc: Exception, *, attempts: int, failed_status: str, reconnect_status: str) -> Outcome:
    """Retry what passes (honouring Retry-After), stop for what needs the user, fail what cannot work."""
    if isinstance(exc, ReconnectNeeded):
        return Outcome({"status": reconnect_status, "result": exc.message, "next_attempt_at": None, "attempts": 0})
    if isinstance(exc, OneDriveError):
        return Outcome({"status": failed_status, "result": exc.message, "next_attempt_at": None})
    if isinstance(exc, microsoft_errors.TransientError) and attempts + 1 < MAX_ATTEMPTS:
        delay = retry_delay(attempts + 1, retry_after=exc.retry_after, first=RETRY_FIRST, maximum=RETRY_MAX)
        fields = {
            "attempts": attempts + 1,
            "next_attempt_at": timezone.now() + delay,
            "result": f"Retrying: {exc.explanation}"[:300],
        }
        return Outcome(fields, retry_in=delay.total_seconds())
    if isinstance(exc, microsoft_errors.MicrosoftError):
        return Outcome({"status": failed_status, "result": exc.explanation[:300], "next_attempt_at": None})
    raise exc
