"""What Jobs via Email does with mail. The server's own vocabulary (kind, protocol, security, status) is
mail_servers.choices."""

from django.db import models

from ui.choices import BadgeChoices, Colour


class AfterProcessing(models.TextChoices):
    DELETE = "delete", "Delete the message"
    MOVE = "move", "Move it to a folder"
    MARK_READ = "mark_read", "Mark it as read"


class UnknownSenders(models.TextChoices):
    REJECT = "reject", "Reject the message"
    REGISTER = "register", "Register the sender as a new user"


class Outcome(BadgeChoices):
    PRINTED = "printed", "Printed", Colour.OK
    PARTLY = "partly", "Partly printed", Colour.WARN
    REJECTED = "rejected", "Rejected", Colour.ERROR
