from django.db import models


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


class PollStatus(models.TextChoices):
    NEVER = "never", "Not checked yet"
    OK = "ok", "OK"
    FAILED = "failed", "Failed, will try again"
    NEEDS_RECONNECT = "needs_reconnect", "Stopped: the connection needs attention"


class Outcome(models.TextChoices):
    PRINTED = "printed", "Printed"
    PARTLY = "partly", "Partly printed"
    REJECTED = "rejected", "Rejected"


class ConnectionTestStatus(models.TextChoices):
    IDLE = "idle", "Not run"
    RUNNING = "running", "Running"
    OK = "ok", "Passed"
    FAILED = "failed", "Failed"
