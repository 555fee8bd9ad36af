"""Reads of external systems, always scoped to one Roger tenant."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone

from credentials.choices import CredentialState
from credentials.selectors import credential_health, credential_list
from external_systems.choices import ACTIVE_CONNECTION_STATUSES, ConnectionStatus, SystemStatus
from external_systems.models import DeviceCodeConnection, ExternalSystem
from external_systems.services.systems import OWNER_TYPE
from external_systems.types import system_type
from external_systems.types.exchange_online import EXCHANGE_ONLINE_KEY
from health import Health, HealthState
from ui.reversing import reverse_cached
from ui.statements import PageRead

if TYPE_CHECKING:
    from accounts.models import Tenant

__all__ = [
    "SystemOverview",
    "connected_exchange_systems",
    "connection_get",
    "system_get",
    "system_health",
    "system_list",
    "system_overview",
    "system_overviews",
]


def system_list(*, tenant: Tenant) -> QuerySet[ExternalSystem]:
    return ExternalSystem.objects.filter(tenant=tenant)


def system_get(*, tenant: Tenant, pk: int) -> ExternalSystem:
    """The tenant's system; another tenant's id raises DoesNotExist (views answer 404)."""
    return ExternalSystem.objects.get(tenant=tenant, pk=pk)


def connection_get(*, tenant: Tenant, pk: int) -> DeviceCodeConnection:
    return DeviceCodeConnection.objects.select_related("system").get(tenant=tenant, pk=pk)


def connected_exchange_systems(*, tenant: Tenant) -> QuerySet[ExternalSystem]:
    """The tenant's connected Exchange Online systems: what Network and Jobs via Email offer to choose from.

    `system.mailbox` is the connected mailbox; get a token with services.exchange_access_token(system=..., scopes=...).
    """
    return ExternalSystem.objects.filter(
        tenant=tenant, system_type=EXCHANGE_ONLINE_KEY, status=SystemStatus.CONNECTED
    ).exclude(mailbox="")


@dataclass(frozen=True)
class SystemOverview:
    """A system with what the admin needs to see about it: its health, the last token refresh."""

    system: ExternalSystem
    type_label: str
    health: Health
    last_refreshed_at: datetime | None
    active_connection: DeviceCodeConnection | None

    @property
    def needs_reconnect(self) -> bool:
        return self.system.is_connected and self.health.state == HealthState.NEEDS_ACTION

    @property
    def refreshed_just_now(self) -> bool:
        return self.last_refreshed_at is not None and timezone.now() - self.last_refreshed_at < timedelta(minutes=1)


def system_overviews(*, tenant: Tenant, systems: Iterable[ExternalSystem] | None = None) -> list[SystemOverview]:
    """The overviews of `systems` (a page of the list), else of every system of the tenant."""
    systems = list(system_list(tenant=tenant) if systems is None else systems)
    if not systems:  # the dashboard's usual answer: skip building the queries below
        return []
    credentials = _credentials_by_owner(tenant, [s.pk for s in systems])
    latest = _latest_connections([s.pk for s in systems])
    return [_overview(s, credentials.get(s.pk), latest.get(s.pk)) for s in systems]


def system_overview(*, system: ExternalSystem) -> SystemOverview:
    credentials = _credentials_by_owner(system.tenant, [system.pk])
    latest = _latest_connections([system.pk])
    return _overview(system, credentials.get(system.pk), latest.get(system.pk))


def _credentials_by_owner(tenant: Tenant, system_ids: list[int]) -> dict[int, Any]:
    rows = credential_list(owner_type=OWNER_TYPE, tenant=tenant).filter(owner_id__in=system_ids, user__isnull=True)
    return {row.owner_id: row for row in rows}


def _latest_connections(system_ids: list[int]) -> dict[int, DeviceCodeConnection]:
    # A correlated subquery rather than DISTINCT ON, which only PostgreSQL has (the demo runs on SQLite).
    newest = DeviceCodeConnection.objects.filter(system_id=OuterRef("system_id")).order_by("-created_at", "-id")
    rows = DeviceCodeConnection.objects.filter(system_id__in=system_ids, pk=Subquery(newest.values("pk")[:1]))
    return {row.system_id: row for row in rows}


def _overview(system: ExternalSystem, credential: Any, latest: DeviceCodeConnection | None) -> SystemOverview:
    kind = system_type(system.system_type)
    active = latest if latest is not None and latest.status in ACTIVE_CONNECTION_STATUSES else None
    return SystemOverview(
        system=system,
        type_label=kind.label if kind else system.system_type,
        health=_health(system, credential, latest, active),
        last_refreshed_at=getattr(credential, "refresh_token_used_at", None) if credential else None,
        active_connection=active,
    )


def _may_need_attention(*, tenant: Tenant) -> QuerySet[ExternalSystem]:
    """At least every system _health() below says needs a person (or may, once retrying for long): a connection
    that asks for a decision or failed, or a connected system whose sign-in is not working."""
    credentials = credential_list(owner_type=OWNER_TYPE, tenant=tenant).filter(
        owner_id=OuterRef("pk"), user__isnull=True
    )
    unhealthy = [
        ConnectionStatus.CONFIRM_SWITCH,
        ConnectionStatus.EXPIRED,
        ConnectionStatus.DECLINED,
        ConnectionStatus.FAILED,
    ]
    return system_list(tenant=tenant).filter(
        Exists(DeviceCodeConnection.objects.filter(system_id=OuterRef("pk"), status__in=unhealthy))
        | Q(
            ~Exists(credentials.filter(state__in=[CredentialState.ACTIVE, CredentialState.REFRESHING])),
            status=SystemStatus.CONNECTED,
        )
    )


# The dashboard asks on every view: built once (ui.statements).
_MAY_NEED_ATTENTION = PageRead(_may_need_attention)


def system_health(*, tenant: Tenant) -> list[Health]:
    """The health of the tenant's systems that may need attention, saying which system (the dashboard's "Needs
    attention"): read in SQL first, so that a tenant with hundreds of systems does not build them all."""
    return [
        overview.health.about(f"External system “{overview.system.title}”")
        for overview in system_overviews(tenant=tenant, systems=_MAY_NEED_ATTENTION.rows(tenant=tenant))
    ]


def _health(
    system: ExternalSystem, credential: Any, latest: DeviceCodeConnection | None, active: DeviceCodeConnection | None
) -> Health:
    page = reverse_cached("external_systems:detail", [system.pk])  # a row of the list: reversed once
    if active is not None and active.status == ConnectionStatus.CONFIRM_SWITCH:
        return Health.needs_action(
            "Another mailbox signed in",
            reason=f"{active.signed_in_mailbox} signed in: choose which mailbox to use.",
            fix_url=f"{reverse('external_systems:list')}?connection={active.pk}",
            fix_label="Decide",
        )
    if active is not None:
        return Health.working("Waiting for sign-in", "Enter the code on Microsoft's page to finish connecting.")
    if system.is_connected:
        if credential is None:
            return Health.needs_action(
                "Needs reconnect",
                reason="The stored sign-in is missing. Reconnect and sign in with the mailbox.",
                fix_url=page,
                fix_label="Reconnect",
            )
        return credential_health(credential)
    if latest is not None and latest.status in (
        ConnectionStatus.EXPIRED,
        ConnectionStatus.DECLINED,
        ConnectionStatus.FAILED,
    ):
        return Health.needs_action(
            "Not connected",
            reason=f"Last attempt: {latest.get_status_display()}. {latest.error_message}",
            fix_url=page,
            fix_label="Connect",
        )
    return Health.off("Not connected", "Connect it to sign in with the mailbox.")
