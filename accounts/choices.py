from django.db import models

from ui.choices import BadgeChoices, Colour


class Role(models.TextChoices):
    ADMIN = "admin", "Tenant admin"
    USER = "user", "User"


class UserSource(BadgeChoices):
    LOCAL = "local", "Local"
    SYNCED = "synced", "Synchronized from Entra ID", Colour.INFO


class UserState(BadgeChoices):
    """What the Users page says of a user (computed, see `User.state`)."""

    ACTIVE = "active", "Active", Colour.OK
    INVITED = "invited", "Invited: no password yet", Colour.INFO
    DEACTIVATED = "deactivated", "Deactivated", Colour.WARN
