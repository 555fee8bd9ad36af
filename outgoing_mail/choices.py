from django.db import models

from mail_servers.choices import ServerKind
from ui.choices import BadgeChoices, Colour


class OutgoingMode(models.TextChoices):
    """What Settings > Network asks: Roger's own server, or the tenant's (a mail_servers.ServerKind)."""

    DEFAULT = "default", "Roger's mail server (default)"
    EXCHANGE = ServerKind.EXCHANGE.value, ServerKind.EXCHANGE.label
    CUSTOM = ServerKind.CUSTOM.value, "Custom SMTP server"


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
