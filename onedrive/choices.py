from django.db import models

from ui.choices import BadgeChoices, Colour


class PrintedAction(models.TextChoices):
    """The Printed Job preference: what happens to a OneDrive file once it is printed."""

    DELETE = "delete", "Delete"
    MOVE = "move", 'Move to "Printed"'
    LEAVE = "leave", "Leave it!"


class PrintStatus(BadgeChoices):
    FETCHING = "fetching", "Getting it from OneDrive", Colour.INFO
    READY = "ready", "Waiting to be printed", Colour.INFO
    TIDYING = "tidying", "Applying your Printed Job preference", Colour.INFO
    DELETED = "deleted", "Deleted from OneDrive", Colour.OK
    MOVED = "moved", 'Moved to "Printed"', Colour.OK
    LEFT = "left", "Left in OneDrive", Colour.OK
    FAILED = "failed", "Failed", Colour.ERROR
    NEEDS_RECONNECT = "needs_reconnect", "Needs a OneDrive reconnect", Colour.ERROR

    @classmethod
    def working(cls) -> frozenset[str]:
        """Statuses the background is still working on (the page refreshes while there are any)."""
        return frozenset({cls.FETCHING, cls.TIDYING})

    @classmethod
    def stopped(cls) -> frozenset[str]:
        """Statuses that wait for the user: Try again (after a reconnect) takes the work up again."""
        return frozenset({cls.FAILED, cls.NEEDS_RECONNECT})


class PrintStage(models.TextChoices):
    FETCH = "fetch", "Download for printing"
    TIDY = "tidy", "Apply the preference after printing"


class ScanStatus(BadgeChoices):
    QUEUED = "queued", "Queued", Colour.INFO
    UPLOADING = "uploading", "Uploading", Colour.INFO
    DELIVERED = "delivered", "In OneDrive", Colour.OK
    FAILED = "failed", "Failed", Colour.ERROR
    NEEDS_RECONNECT = "needs_reconnect", "Needs a OneDrive reconnect", Colour.ERROR

    @classmethod
    def working(cls) -> frozenset[str]:
        return frozenset({cls.QUEUED, cls.UPLOADING})

    @classmethod
    def stopped(cls) -> frozenset[str]:
        return frozenset({cls.FAILED, cls.NEEDS_RECONNECT})


class ScanOrigin(models.TextChoices):
    UPLOAD = "upload", "Jobs page"
    COMMAND = "command", "Management command"
    DEVICE = "device", "Device"
