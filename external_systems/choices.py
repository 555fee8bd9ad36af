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


class SystemState(BadgeChoices):
    """What the External Systems pages say about a system: its connection and its stored sign-in together."""

    CONNECTED = "connected", "Connected", Colour.OK
    RETRYING = "retrying", "Retrying", Colour.WARN
    NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect", Colour.ERROR
    WAITING = "waiting", "Waiting for sign-in", Colour.INFO
    CONFIRM_SWITCH = "confirm_switch", "Another mailbox signed in", Colour.WARN
    NOT_CONNECTED = "not_connected", "Not connected"
    CONNECT_FAILED = "connect_failed", "Not connected", Colour.ERROR  # the last attempt to connect failed


# A system has at most one connection in these states (a database constraint enforces it).
ACTIVE_CONNECTION_STATUSES = (
    ConnectionStatus.STARTING,
    ConnectionStatus.PENDING,
    ConnectionStatus.CONFIRM_SWITCH,
)
# States the Celery poller still works on.
POLLED_CONNECTION_STATUSES = (ConnectionStatus.STARTING, ConnectionStatus.PENDING)
