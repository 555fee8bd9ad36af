from django.db import models

from ui.choices import BadgeChoices, Colour


class ImportStatus(BadgeChoices):
    CHECKING = "checking", "Checking the file", Colour.INFO
    PREVIEW = "preview", "Ready to import", Colour.NEUTRAL
    APPLYING = "applying", "Importing", Colour.INFO
    DONE = "done", "Imported", Colour.OK
    FAILED = "failed", "Failed", Colour.ERROR

    @classmethod
    def working(cls) -> frozenset[str]:
        return frozenset({cls.CHECKING, cls.APPLYING})


class ImportPhase(models.TextChoices):
    PREVIEW = "preview", "Preview"
    APPLY = "apply", "Import"


class RowAction(BadgeChoices):
    CREATE = "create", "Create", Colour.OK
    UPDATE = "update", "Update", Colour.INFO
    UNCHANGED = "unchanged", "Unchanged", Colour.NEUTRAL
    REFUSED = "refused", "Refused", Colour.ERROR
