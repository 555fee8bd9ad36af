from django.db import models

from ui.choices import BadgeChoices, Colour


class OutgoingMode(models.TextChoices):
    DEFAULT = "default", "Roger's mail server (default)"
    EXCHANGE = "exchange", "Microsoft Exchange Online (a connected external system)"
    CUSTOM = "custom", "Custom SMTP server"


class SmtpSecurity(models.TextChoices):
    """The values of microsoft.smtp.SmtpSecurity, with labels for the form."""

    STARTTLS = "starttls", "STARTTLS (usually port 587)"
    SSL = "ssl", "SSL/TLS (usually port 465)"
    NONE = "none", "None (usually port 25; no password allowed)"


class OutboundPurpose(models.TextChoices):
    MAIL = "mail", "Portal mail"
    TEST = "test", "Test email"


class OutboundStatus(BadgeChoices):
    QUEUED = "queued", "Queued", Colour.INFO
    SENDING = "sending", "Sending", Colour.INFO
    SENT = "sent", "Sent", Colour.OK
    FAILED = "failed", "Failed", Colour.ERROR


PENDING_STATUSES = (OutboundStatus.QUEUED, OutboundStatus.SENDING)


class FailureKind(models.TextChoices):
    """Why a message could not be sent, so the page can offer the right fix."""

    AUTH_FAILED = "auth_failed", "Sign-in refused"
    SMTP_AUTH_DISABLED = "smtp_auth_disabled", "SMTP AUTH disabled"
    SEND_AS_DENIED = "send_as_denied", "Not allowed to send as"
    RECONNECT = "reconnect", "Reconnect needed"
    REJECTED = "rejected", "Refused by the server"
    CONFIGURATION = "configuration", "Configuration"
    TRANSIENT = "transient", "Temporary failure"
