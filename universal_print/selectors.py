"""Reads of Universal Print, always scoped to a Roger tenant (another tenant's objects are 404)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, Max, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import Tenant, User
from integrations.choices import FeatureType
from integrations.models import Feature
from print_jobs.models import Queue
from ui.choices import Severity
from universal_print.choices import JobOutcome
from universal_print.models import AdminSignIn, Connection, Printer, ReceivedJob

# The permissions whose refusal (a 403) stops the service until consent is granted again.
APP_PERMISSIONS = ("Printer.Read.All", "PrintTaskDefinition.ReadWrite.All", "PrintJob.Read.All")


def universal_print_features(*, tenant: Tenant) -> QuerySet[Feature]:
    return Feature.objects.filter(tenant=tenant, feature_type=FeatureType.UNIVERSAL_PRINT).select_related(
        "integration", "app_registration"
    )


def connection_get(*, tenant: Tenant, pk: int) -> Connection:
    return get_object_or_404(
        Connection.objects.select_related("feature__integration", "feature__app_registration"), tenant=tenant, pk=pk
    )


def printer_get(*, tenant: Tenant, pk: int) -> Printer:
    return get_object_or_404(Printer.objects.select_related("connection"), tenant=tenant, pk=pk)


def queue_choices(*, tenant: Tenant) -> QuerySet[Queue]:
    return Queue.objects.filter(tenant=tenant)


def user_by_directory_identity(*, tenant: Tenant, directory_id: str, object_id: str) -> User | None:
    """The Roger user the directory's object id belongs to (the identity User Synchronization and Login with
    Microsoft record); never a match on names or addresses, which change and are reused."""
    return (
        User.objects.filter(
            tenant=tenant,
            directory_tenant_id__iexact=directory_id.strip(),
            directory_object_id__iexact=object_id.strip(),
        )
        .order_by("pk")
        .first()
    )


# --- whether the connection can take jobs ---------------------------------------------------------------------


def refused_permissions(feature: Feature) -> list[str]:
    refused = {name.lower() for name in feature.refused_permissions}
    return [name for name in APP_PERMISSIONS if name.lower() in refused]


def why_jobs_wait(connection: Connection) -> tuple[str, str] | None:
    """Why the connection cannot take jobs now, and what fixes it; None when it can."""
    feature = connection.feature
    if feature is None:
        return (
            "the integration that connected these printers was deleted (or now uses another application)",
            "Add a Microsoft integration with the same application and enable Universal Print, then turn these "
            "printers off here; or have a Printer Administrator remove their task triggers with Microsoft Graph.",
        )
    if not feature.enabled:
        return (
            "Universal Print is disabled",
            "Enable it again on the integration, or turn these printers off here (a Printer Administrator signs in).",
        )
    if not feature.has_consent or refused_permissions(feature):
        return (
            f"the consent of {feature.app_registration.display_name} is missing in the Microsoft directory",
            "Grant it again (Reapply Consents on the integration): Roger then takes the waiting jobs. Or turn these "
            "printers off here.",
        )
    return None


def connection_can_take_jobs(connection: Connection) -> bool:
    return why_jobs_wait(connection) is None


def printers_left_waiting(connection: Connection) -> list[Printer]:
    """Printers whose jobs wait in Universal Print because the connection cannot take them: their triggers are
    Roger's, and nothing completes their tasks."""
    if connection_can_take_jobs(connection):
        return []
    return list(connection.printers.exclude(trigger_id="").filter(removed_at__isnull=True))


# --- the page --------------------------------------------------------------------------------------------------


@dataclass
class ConnectionView:
    """One connection (usually the only one) as the page shows it."""

    connection: Connection | None
    feature: Feature | None
    printers: list[Printer] = field(default_factory=list)  # with `jobs_today` and `latest_job`
    sign_in: AdminSignIn | None = None
    recent_jobs: list[ReceivedJob] = field(default_factory=list)
    waiting: tuple[str, str] | None = None  # why jobs wait, and the fix
    printers_waiting: list[Printer] = field(default_factory=list)
    form: Any = None  # the printers' form, set by the view

    @property
    def changes_pending(self) -> int:
        return sum(1 for printer in self.printers if printer.change_pending)


def _start_of_today() -> datetime:
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


def printers_with_stats(connection: Connection) -> list[Printer]:
    """The connection's printers, each with `jobs_today` (jobs taken since midnight) and `latest_job` (when the
    last job arrived); removed printers last."""
    today = _start_of_today()
    printers = connection.printers.select_related("queue").annotate(
        jobs_today=Count("jobs", filter=Q(jobs__received_at__gte=today, jobs__outcome=JobOutcome.HELD)),
        latest_job=Max("jobs__received_at"),
    )
    return list(printers.order_by("removed_at", "name", "pk"))


def connection_view(connection: Connection, *, recent: int = 20) -> ConnectionView:
    waiting = why_jobs_wait(connection)
    return ConnectionView(
        connection=connection,
        feature=connection.feature,
        printers=printers_with_stats(connection),
        sign_in=connection.sign_ins.select_related("admin").first(),
        recent_jobs=list(connection.jobs.select_related("owner", "printer", "print_job")[:recent]),
        waiting=waiting,
        printers_waiting=printers_left_waiting(connection) if waiting else [],
    )


def page_views(*, tenant: Tenant) -> list[ConnectionView]:
    """Every Universal Print feature of the tenant with its connection (a feature nobody set up yet has none),
    then the connections left without a feature that still hold printers."""
    views: list[ConnectionView] = []
    connections = {c.feature_id: c for c in Connection.objects.filter(tenant=tenant, feature__isnull=False)}
    for feature in universal_print_features(tenant=tenant).order_by("-enabled", "pk"):
        connection = connections.get(feature.pk)
        if connection is not None and connection.client_id == feature.app_registration.client_id.lower():
            view = connection_view(connection)
        else:
            view = ConnectionView(connection=None, feature=feature)
        views.append(view)
    detached = Connection.objects.filter(tenant=tenant, feature__isnull=True, printers__trigger_id__gt="")
    for connection in detached.distinct():
        views.append(connection_view(connection))
    return views


def sign_in_progress(*, tenant: Tenant, pk: int) -> AdminSignIn:
    return get_object_or_404(AdminSignIn.objects.select_related("connection"), tenant=tenant, pk=pk)


# --- what needs attention --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attention:
    level: Severity
    text: str


def universal_print_attention_items(*, tenant: Tenant) -> list[Attention]:
    items: list[Attention] = []
    for connection in Connection.objects.filter(tenant=tenant).select_related("feature__app_registration"):
        waiting = why_jobs_wait(connection)
        printers = printers_left_waiting(connection) if waiting else []
        if waiting and printers:
            names = ", ".join(p.windows_name for p in printers)
            items.append(
                Attention(
                    Severity.ERROR,
                    f"Universal Print: jobs sent to {names} wait and are not printed: {waiting[0]}. {waiting[1]}",
                )
            )
        pending = [p for p in connection.printers.all() if p.change_pending]
        if pending and connection.feature is not None:
            items.append(
                Attention(
                    Severity.WARNING,
                    f"Universal Print: {len(pending)} printer change{'s wait' if len(pending) != 1 else ' waits'} "
                    "for a Printer Administrator to sign in.",
                )
            )
        held = [p for p in connection.printers.all() if p.feeds_roger and p.held_by_app_id and not p.trigger_id]
        if held:
            items.append(
                Attention(
                    Severity.WARNING,
                    f"Universal Print: {', '.join(p.windows_name for p in held)} send their jobs to another "
                    "application, so Roger cannot take them.",
                )
            )
        if connection.feature is not None and connection.poll_status == "failed" and connection.attempts >= 3:
            items.append(Attention(Severity.ERROR, f"Universal Print: {connection.poll_error}"))
    return items
