from ui.choices import BadgeChoices, Colour


class SystemStatus(BadgeChoices):
    NOT_CONNECTED = "not_connected", "Not connected"
    CONNECTED = "connected", "Connected", Colour.OK


class ConnectionStatus(BadgeChoices):
    STARTING = "starting", "Contacting Microsoft", Colour.INFO
    PENDING = "pending", "Waiting for sign-in", Colour.INFO
    CONFIRM_SWITCH = "confirm_switch", "Another mailbox signed in", Colour.WARN
    CONNECTED = "connected", "Connected", Colour.OK
    EXPIRED = "expired", "Code expired", Colour.WARN
    DECLINED = "declined", "Sign-in declined", Colour.ERROR
    FAILED = "failed", "Failed", Colour.ERROR
    CANCELLED = "cancelled", "Cancelled"


# A system has at most one connection in these states (a database constraint enforces it).
ACTIVE_CONNECTION_STATUSES = (
    ConnectionStatus.STARTING,
    ConnectionStatus.PENDING,
    ConnectionStatus.CONFIRM_SWITCH,
)
# States the Celery poller still works on.
POLLED_CONNECTION_STATUSES = (ConnectionStatus.STARTING, ConnectionStatus.PENDING)
