"""The states of Universal Print in Roger, each with the colour of its badge."""

from __future__ import annotations

from ui.choices import BadgeChoices, Colour


class PollStatus(BadgeChoices):
    """How the last look at the connection's pending tasks went."""

    NEVER = "never", "Not checked yet", Colour.NEUTRAL
    OK = "ok", "Working", Colour.OK
    IDLE = "idle", "No printer takes jobs yet", Colour.NEUTRAL
    OFF = "off", "Universal Print is disabled", Colour.NEUTRAL
    THROTTLED = "throttled", "Microsoft asked Roger to wait", Colour.INFO
    RETRYING = "retrying", "Retrying", Colour.WARN
    NEEDS_CONSENT = "needs_consent", "Needs consent", Colour.ERROR
    FAILED = "failed", "Failed", Colour.ERROR


class PrinterState(BadgeChoices):
    """Whether Roger takes a printer's jobs, as the admin sees it (from the stored choice and trigger)."""

    TAKES_JOBS = "takes_jobs", "Takes jobs", Colour.OK
    OFF = "off", "Off", Colour.NEUTRAL
    TURNING_ON = "turning_on", "On once a Printer Administrator signs in", Colour.INFO
    TURNING_OFF = "turning_off", "Off once a Printer Administrator signs in", Colour.WARN
    OTHER_APP = "other_app", "Held by another application", Colour.ERROR
    REMOVED = "removed", "Removed from Universal Print", Colour.NEUTRAL


class JobOutcome(BadgeChoices):
    """A Universal Print job on Roger's side."""

    RECEIVING = "receiving", "Receiving", Colour.INFO
    HELD = "held", "Held in Roger for release", Colour.OK
    ABORTED = "aborted", "Aborted", Colour.WARN
    FAILED = "failed", "Failed", Colour.ERROR


class TaskStatus(BadgeChoices):
    """The same job on Universal Print's side: its task, which Roger completes or aborts."""

    OPEN = "open", "Waiting for Roger", Colour.INFO
    COMPLETED = "completed", "Completed", Colour.OK
    ABORTED = "aborted", "Aborted", Colour.WARN
    GONE = "gone", "Deleted in Universal Print", Colour.NEUTRAL


class SignInStatus(BadgeChoices):
    """A Printer Administrator's sign-in and the printer changes it applies."""

    QUEUED = "queued", "Waiting", Colour.INFO
    RUNNING = "running", "Applying", Colour.INFO
    DONE = "done", "Applied", Colour.OK
    FAILED = "failed", "Failed", Colour.ERROR

    @classmethod
    def open(cls) -> tuple[str, ...]:
        return (cls.QUEUED, cls.RUNNING)
