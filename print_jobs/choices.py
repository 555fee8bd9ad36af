from django.db import models


class JobSource(models.TextChoices):
    EMAIL = "email", "Jobs via Email"
    UNIVERSAL_PRINT = "universal_print", "Universal Print"
    ONEDRIVE = "onedrive", "OneDrive"
    UPLOAD = "upload", "Upload"


class JobStatus(models.TextChoices):
    READY = "ready", "Ready to print"
    PRINTED = "printed", "Printed"
    FAILED = "failed", "Failed"
