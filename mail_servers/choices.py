"""The one vocabulary for a mail server: what kind, which protocol, how it is secured, how it fares."""

from django.db import models

from ui.choices import BadgeChoices, Colour


class ServerKind(models.TextChoices):
    EXCHANGE = "exchange", "Microsoft Exchange Online (a connected external system)"
    CUSTOM = "custom", "Another mail server"


class Protocol(models.TextChoices):
    SMTP = "smtp", "SMTP"
    IMAP = "imap", "IMAP"
    POP3 = "pop3", "POP3"


MAILBOX_PROTOCOLS = (Protocol.IMAP, Protocol.POP3)


class Security(models.TextChoices):
    """The values of microsoft.mail_connection.Security."""

    SSL = "ssl", "SSL/TLS"
    STARTTLS = "starttls", "STARTTLS"
    NONE = "none", "None (unencrypted)"


# The port a server usually listens on, by protocol and security (what an empty port means).
DEFAULT_PORTS = {
    (Protocol.SMTP, Security.SSL): 465,
    (Protocol.SMTP, Security.STARTTLS): 587,
    (Protocol.SMTP, Security.NONE): 25,
    (Protocol.IMAP, Security.SSL): 993,
    (Protocol.IMAP, Security.STARTTLS): 143,
    (Protocol.IMAP, Security.NONE): 143,
    (Protocol.POP3, Security.SSL): 995,
    (Protocol.POP3, Security.STARTTLS): 110,
    (Protocol.POP3, Security.NONE): 110,
}


class ServerStatus(BadgeChoices):
    """What the last use of the server showed (a poll of its mailbox, a message sent through it)."""

    NEVER = "never", "Not checked yet"
    OK = "ok", "OK", Colour.OK
    FAILED = "failed", "Failed, will try again", Colour.WARN
    NEEDS_ACTION = "needs_action", "Needs attention", Colour.ERROR


class ConnectionTestStatus(BadgeChoices):
    IDLE = "idle", "Not run"
    RUNNING = "running", "Running", Colour.INFO
    OK = "ok", "Passed", Colour.OK
    FAILED = "failed", "Failed", Colour.ERROR
