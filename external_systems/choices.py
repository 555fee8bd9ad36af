from django.db import models


class SystemStatus(models.TextChoices):
    NOT_CONNECTED = "not_connected", "Not connected"
    CONNECTED = "connected", "Connected"


class ConnectionStatus(models.TextChoices):
    STARTING = "starting", "Contacting Microsoft"
    PENDING = "pending", "Waiting for sign-in"
    CONFIRM_SWITCH = "confirm_switch", "Another mailbox signed in"
    CONNECTED = "connected", "Connected"
    EXPIRED = "expired", "Code expired"
    DECLINED = "declined", "Sign-in declined"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# A system has at most one connection in these states (a database constraint enforces it).
ACTIVE_CONNECTION_STATUSES = (
    ConnectionStatus.STARTING,
    ConnectionStatus.PENDING,
    ConnectionStatus.CONFIRM_SWITCH,
)
# States the Celery poller still works on.
POLLED_CONNECTION_STATUSES = (ConnectionStatus.STARTING, ConnectionStatus.PENDING)
