from django.db import models

from ui.choices import BadgeChoices, Colour


class Protocol(models.TextChoices):
    IMAP = "imap", "IMAP"
    POP3 = "pop3", "POP3"


class ServerKind(models.TextChoices):
    EXCHANGE = "exchange", "Microsoft Exchange Online (a connected external system)"
    CUSTOM = "custom", "Another mail server"


class Security(models.TextChoices):
    SSL = "ssl", "SSL/TLS"
    STARTTLS = "starttls", "STARTTLS"
    NONE = "none", "None (unencrypted)"


class AfterProcessing(models.TextChoices):
    DELETE = "delete", "Delete the message"
    MOVE = "move", "Move it to a folder"
    MARK_READ = "mark_read", "Mark it as read"


class UnknownSenders(models.TextChoices):
    REJECT = "reject", "Reject the message"
    REGISTER = "register", "Register the sender as a new user"


class PollStatus(BadgeChoices):
    NEVER = "never", "Not checked yet"
    OK = "ok", "OK", Colour.OK
    FAILED = "failed", "Failed, will try again", Colour.WARN
    NEEDS_RECONNECT = "needs_reconnect", "Stopped: the connection needs attention", Colour.ERROR


class Outcome(BadgeChoices):
    PRINTED = "printed", "Printed", Colour.OK
    PARTLY = "partly", "Partly printed", Colour.WARN
    REJECTED = "rejected", "Rejected", Colour.ERROR


class ConnectionTestStatus(BadgeChoices):
    IDLE = "idle", "Not run"
    RUNNING = "running", "Running", Colour.INFO
    OK = "ok", "Passed", Colour.OK
    FAILED = "failed", "Failed", Colour.ERROR
