from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Tenant admin"
    USER = "user", "User"


class UserSource(models.TextChoices):
    LOCAL = "local", "Local"
    SYNCED = "synced", "Synchronized from Entra ID"
