"""Create, edit and delete external systems, and hand out their access tokens."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import transaction

from audit.services import audit_record
from credentials.services import credential_access_token, credential_delete
from external_systems.choices import ACTIVE_CONNECTION_STATUSES, ConnectionStatus, SystemStatus
from external_systems.models import ExternalSystem
from external_systems.types import system_type

if TYPE_CHECKING:
    from accounts.models import Tenant, User

__all__ = [
    "OWNER_TYPE",
    "SystemUpdate",
    "directory_guid_or_blank",
    "exchange_access_token",
    "system_create",
    "system_delete",
    "system_update",
]

logger = logging.getLogger(__name__)

# The owner type of external systems' credentials in the token store.
OWNER_TYPE = "external_system"


def directory_guid_or_blank(directory_input: str) -> str:
    """The GUID itself when the admin entered one; blank for a domain (resolved by the connection task)."""
    try:
        return str(uuid.UUID(directory_input.strip()))
    except ValueError:
        return ""


def system_create(
    *,
    tenant: Tenant,
    actor: User,
    system_type_key: str,
    title: str,
    client_id: str,
    directory_input: str,
) -> ExternalSystem:
    if system_type(system_type_key) is None:
        raise ValueError(f"Unknown external system type {system_type_key!r}")
    system = ExternalSystem.objects.create(
        tenant=tenant,
        system_type=system_type_key,
        title=title.strip(),
        client_id=client_id.strip().lower(),
        directory_input=directory_input.strip(),
        directory_id=directory_guid_or_blank(directory_input),
        created_by=actor,
    )
    audit_record(
        tenant=tenant,
        actor=actor,
        action="external_system.created",
        target=system,
        details={"type": system_type_key, "client_id": system.client_id, "tenant_id": system.directory_input},
    )
    return system


@dataclass(frozen=True)
class SystemUpdate:
    system: ExternalSystem
    needs_new_connection: bool


def system_identity_changes(*, system: ExternalSystem, client_id: str, directory_input: str) -> list[str]:
    """Which of the fields that bind the connection (Client ID, Tenant ID) would change."""
    changes = []
    if client_id.strip().lower() != system.client_id:
        changes.append("Client ID")
    if directory_input.strip().lower() != system.directory_input.lower():
        changes.append("Tenant ID")
    return changes


@transaction.atomic
def system_update(
    *,
    system: ExternalSystem,
    actor: User,
    title: str,
    client_id: str,
    directory_input: str,
) -> SystemUpdate:
    """Save the form. A new Client ID or Tenant ID ends the current connection: its sign-in belongs to the old app."""
    system = ExternalSystem.objects.select_for_update().get(pk=system.pk)
    changes = system_identity_changes(system=system, client_id=client_id, directory_input=directory_input)
    details: dict[str, object] = {}
    if title.strip() != system.title:
        details["title"] = {"from": system.title, "to": title.strip()}
        system.title = title.strip()
    if changes:
        details["client_id"] = {"from": system.client_id, "to": client_id.strip().lower()}
        details["tenant_id"] = {"from": system.directory_input, "to": directory_input.strip()}
        system.client_id = client_id.strip().lower()
        system.directory_input = directory_input.strip()
        system.directory_id = directory_guid_or_blank(directory_input)
        _disconnect(system=system, actor=actor, reason="Client ID or Tenant ID changed")
    if not details:
        return SystemUpdate(system=system, needs_new_connection=False)
    system.save()
    audit_record(
        actor=actor,
        action="external_system.updated",
        target=system,
        details=details,
    )
    return SystemUpdate(system=system, needs_new_connection=bool(changes))


def _disconnect(*, system: ExternalSystem, actor: User | None, reason: str) -> None:
    system.connections.filter(status__in=ACTIVE_CONNECTION_STATUSES).update(
        status=ConnectionStatus.CANCELLED, held_grant="", flow="", error_message=reason
    )
    credential_delete(tenant=system.tenant, owner_type=OWNER_TYPE, owner_id=system.pk, actor=actor)
    system.mailbox = ""
    system.status = SystemStatus.NOT_CONNECTED
    system.connected_at = None


@transaction.atomic
def system_delete(*, system: ExternalSystem, actor: User) -> None:
    credential_delete(tenant=system.tenant, owner_type=OWNER_TYPE, owner_id=system.pk, actor=actor)
    audit_record(
        actor=actor,
        action="external_system.deleted",
        target=system,
        details={"type": system.system_type, "client_id": system.client_id, "mailbox": system.mailbox},
    )
    system.delete()


def exchange_access_token(
    *, system: ExternalSystem, scopes: list[str] | tuple[str, ...], force_refresh: bool = False
) -> str:
    """An access token for the connected mailbox (e.g. [".../SMTP.Send"]), refreshed by the token store if due,
    or at once with `force_refresh` (Exchange refused the token we held).

    Raises credentials.errors.CredentialUnavailable when the system must be reconnected, and
    microsoft.errors.TransientError when Microsoft cannot be reached right now.
    """
    return credential_access_token(
        tenant=system.tenant,
        owner_type=OWNER_TYPE,
        owner_id=system.pk,
        directory_id=system.directory_id,
        scopes=list(scopes),
        force_refresh=force_refresh,
    )
