"""How many events a key may have in how long: `Rate.parse("5/15m")`, and when a full key frees up."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    """At most `count` events in any `seconds`; when `lock_seconds` is set, reaching it also blocks the key for
    that long after the last of them (the sign-in lockout), otherwise until the oldest leaves the window."""

    count: int
    seconds: float
    lock_seconds: float | None = None

    @classmethod
    def parse(cls, text: str) -> Rate:
        """`3/h`, `10/15m`, `5/900s`, `20/d`."""
        match = _RATE.match(text)
        if match is None or int(match[1]) < 1:
            raise ValueError(f"{text!r} is not a rate: write COUNT/PERIOD such as 3/h, 10/15m, 5/900s or 20/d")
        return cls(count=int(match[1]), seconds=int(match[2] or 1) * _UNIT_SECONDS[match[3]])

    @property
    def horizon(self) -> float:
        """How long an event can matter."""
        return self.seconds + (self.lock_seconds or 0)

    def retry_after(self, hits: Iterable[float], now: float) -> float:
        """Seconds until one more event is allowed (0: now)."""
        recent = sorted(hit for hit in hits if hit > now - self.horizon)
        wait = 0.0
        for first in range(len(recent) - self.count + 1):
            oldest, newest = recent[first], recent[first + self.count - 1]
            if newest - oldest < self.seconds:  # `count` events inside one window
                until = newest + self.lock_seconds if self.lock_seconds is not None else oldest + self.seconds
                wait = max(wait, until - now)
        return wait
