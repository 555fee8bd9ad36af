from django.db import models

from ui.choices import BadgeChoices, Colour


class JobSource(models.TextChoices):
    EMAIL = "email", "Jobs via Email"
    UNIVERSAL_PRINT = "universal_print", "Universal Print"
    ONEDRIVE = "onedrive", "OneDrive"
    UPLOAD = "upload", "Upload"


class JobStatus(BadgeChoices):
    READY = "ready", "Ready to print", Colour.INFO
    # The owner was deactivated: kept, not printed, until they are reactivated.
    HELD = "held", "Held: owner deactivated", Colour.WARN
    PRINTED = "printed", "Printed", Colour.OK
    FAILED = "failed", "Failed", Colour.ERROR
