"""Services of external systems: writes, typed and keyword-only. Other apps import from here."""

from external_systems.services.connections import (
    connection_advance,
    connection_cancel,
    connection_code_email,
    connection_start,
    connection_switch_confirm,
    connection_switch_reject,
    connections_polled,
)
from external_systems.services.systems import (
    OWNER_TYPE,
    SystemUpdate,
    exchange_access_token,
    system_create,
    system_delete,
    system_identity_changes,
    system_update,
)

__all__ = [
    "OWNER_TYPE",
    "SystemUpdate",
    "connection_advance",
    "connection_cancel",
    "connection_code_email",
    "connection_start",
    "connection_switch_confirm",
    "connection_switch_reject",
    "connections_polled",
    "exchange_access_token",
    "system_create",
    "system_delete",
    "system_identity_changes",
    "system_update",
]
