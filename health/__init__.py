"""One health vocabulary for everything that connects somewhere: a credential, an external system, a feature's
consent, a mail server, a sync run.

Each presents its state as a `Health`, which the pages render with one partial
(`templates/partials/health.html`) and the dashboard's "Needs attention" collects (`health.attention`):

- ok: it works;
- working: something is under way (a refresh, a sign-in waiting for its code), nothing is wrong;
- retrying: it fails for a cause outside our control and tries again by itself (since when, the cause, the
  next try);
- needs action: a person must act (the reason, the fix, a link to where it is done); when it still works
  meanwhile (`still_works`, or until a `deadline`), it is a warning rather than an error;
- off: not set up, or switched off.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from django.utils import timezone
from django.utils.timesince import timeuntil

from ui.choices import Colour, Severity

__all__ = ["RETRYING_ALARM_AFTER", "Health", "HealthState"]

# A failure that retries by itself is worth a person's attention only once it has lasted this long.
RETRYING_ALARM_AFTER = timedelta(days=1)


class HealthState(StrEnum):
    OK = "ok"
    WORKING = "working"
    RETRYING = "retrying"
    NEEDS_ACTION = "needs_action"
    OFF = "off"


_COLOURS = {
    HealthState.OK: Colour.OK,
    HealthState.WORKING: Colour.INFO,
    HealthState.RETRYING: Colour.WARN,
    HealthState.NEEDS_ACTION: Colour.ERROR,
    HealthState.OFF: Colour.NEUTRAL,
}


@dataclass(frozen=True)
class Health:
    """The state of one connection-like thing, as people see it. Build it with the class methods."""

    state: HealthState
    label: str  # a few words for the badge: "Connected", "Needs reconnect"
    reason: str = ""  # what is wrong (the cause, when retrying), or what is under way
    fix: str = ""  # needs action: what to do, when the reason does not say it
    fix_url: str = ""  # needs action: where it is done
    fix_label: str = ""  # the link's words
    since: datetime | None = None  # retrying: since when
    next_try: datetime | None = None  # retrying: when it tries again
    deadline: date | None = None  # needs action before then; it works until then
    still_works: bool = False  # needs action, but works meanwhile
    subject: str = ""  # what it is about, where things of several kinds are listed together

    @classmethod
    def ok(cls, label: str = "Working", reason: str = "") -> Health:
        return cls(HealthState.OK, label, reason)

    @classmethod
    def working(cls, label: str, reason: str = "") -> Health:
        return cls(HealthState.WORKING, label, reason)

    @classmethod
    def retrying(
        cls, *, cause: str, since: datetime | None, next_try: datetime | None, label: str = "Retrying"
    ) -> Health:
        return cls(HealthState.RETRYING, label, cause, since=since, next_try=next_try)

    @classmethod
    def needs_action(
        cls,
        label: str,
        *,
        reason: str,
        fix: str = "",
        fix_url: str = "",
        fix_label: str = "Fix it",
        deadline: date | None = None,
        still_works: bool = False,
    ) -> Health:
        return cls(
            HealthState.NEEDS_ACTION,
            label,
            reason,
            fix=fix,
            fix_url=fix_url,
            fix_label=fix_label,
            deadline=deadline,
            still_works=still_works or (deadline is not None and deadline >= _today()),
        )

    @classmethod
    def off(cls, label: str, reason: str = "") -> Health:
        return cls(HealthState.OFF, label, reason)

    def about(self, subject: str) -> Health:
        """The same health, saying what it is about (for the dashboard, which lists several kinds)."""
        return replace(self, subject=subject)

    @property
    def colour(self) -> Colour:
        """The badge's colour: a person must act on what stopped (error); what works meanwhile is a warning."""
        if self.state == HealthState.NEEDS_ACTION and self.still_works:
            return Colour.WARN
        return _COLOURS[self.state]

    def needs_attention(self, now: datetime | None = None) -> bool:
        """Whether the dashboard lists it: a person must act, or it has been retrying for a day."""
        if self.state == HealthState.NEEDS_ACTION:
            return True
        since = self.since
        if self.state != HealthState.RETRYING or since is None:
            return False
        return (now or timezone.now()) - since >= RETRYING_ALARM_AFTER

    @property
    def next_try_words(self) -> str:
        """When it tries again, in words: "in 4 minutes", or "now" once the time has come."""
        if self.next_try is None:
            return ""
        return f"in {timeuntil(self.next_try)}" if self.next_try > timezone.now() + timedelta(minutes=1) else "now"

    @property
    def level(self) -> Severity:
        """How urgent it is where problems are listed: an error (stopped) or a warning."""
        return Severity.ERROR if self.colour == Colour.ERROR else Severity.WARNING


def _today() -> date:
    return timezone.localdate()
