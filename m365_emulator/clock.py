"""The emulator clock: real time plus an offset that the control API can move forward."""

import threading
import time
from datetime import UTC, date, datetime


class Clock:
    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0

    @property
    def offset(self) -> float:
        return self._offset

    def utcnow(self) -> datetime:
        return datetime.fromtimestamp(self.now(), tz=UTC)

    def today(self) -> date:
        return self.utcnow().date()


def format_timestamp(moment: datetime) -> str:
    """Microsoft's error timestamp format: ``2020-07-06 22:31:52Z``."""
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")
