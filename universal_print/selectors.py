"""Reads of Universal Print, always scoped to a Roger tenant (another tenant's objects are 404)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Max, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone

from health import Health
from integrations.choices import FeatureType
from integrations.selectors import features_of_type
from print_jobs.selectors import queue_list
from universal_print.choices import JobOutcome, PollStatus, PrinterState
from universal_print.models import AdminSignIn, Connection, Printer, ReceivedJob

if TYPE_CHECKING:
    from accounts.models import Tenant
    from integrations.models import Feature
    from print_jobs.models import Queue

# The permissions whose refusal (a 403) stops the service until consent is granted again.
APP_PERMISSIONS = ("Printer.Read.All", "PrintTaskDefinition.ReadWrite.All", "PrintJob.Read.All")


def universal_print_features(*, tenant: Tenant) -> QuerySet[Feature]:
    return features_of_type(tenant=tenant, feature_type=FeatureType.UNIVERSAL_PRINT)


def connection_get(*, tenant: Tenant, pk: int) -> Connection:
    return get_object_or_404(
        Connection.objects.select_related("feature__integration", "feature__app_registration"), tenant=tenant, pk=pk
    )


def printer_get(*, tenant: Tenant, pk: int) -> Printer:
    return get_object_or_404(Printer.objects.select_related("connection"), tenant=tenant, pk=pk)


def queue_choices(*, tenant: Tenant) -> QuerySet[Queue]:
    return queue_list(tenant=tenant)


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
    health: Health | None = None
    jobs_shown: list[tuple[int, str, str]] = field(default_factory=list)  # what the status follows of the jobs
    status_live: Any = None  # ui.live.Live of the status part, set by the view

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
    # The jobs the status follows are read before the printers and jobs the page shows: a job received after this
    # read keeps the status polling, while one received after the page's read and before a later one would leave
    # it shown "Receiving", with nothing followed.
    followed = jobs_shown(connection)
    waiting = why_jobs_wait(connection)
    return ConnectionView(
        connection=connection,
        feature=connection.feature,
        printers=printers_with_stats(connection),
        sign_in=connection.sign_ins.select_related("admin").first(),
        recent_jobs=list(connection.jobs.select_related("owner", "printer", "print_job")[:recent]),
        waiting=waiting,
        printers_waiting=printers_left_waiting(connection) if waiting else [],
        health=connection_health(connection),
        jobs_shown=followed,
    )


def look_pending(connection: Connection) -> bool:
    """Whether a look at the connection is due and not done yet (Check now, a sign-in to apply, the minute's look
    before a worker took it)."""
    return connection.next_attempt_at is not None and connection.next_attempt_at <= timezone.now()


def jobs_shown(connection: Connection, *, recent: int = 20) -> list[tuple[int, str, str]]:
    """What the page shows of the latest jobs (Roger's side and Universal Print's), to follow their changes."""
    return list(connection.jobs.values_list("pk", "outcome", "task_status")[:recent])


def page_views(*, tenant: Tenant) -> list[ConnectionView]:
    """Every enabled Universal Print feature of the tenant and every one with a connection (a feature nobody set up
    yet has none), then the connections left without a feature that still hold printers. A disabled feature that
    never connected has nothing to show (`features_disabled_unused` counts them): a tenant with a thousand
    integrations would otherwise get a thousand cards."""
    views: list[ConnectionView] = []
    connections = {c.feature_id: c for c in Connection.objects.filter(tenant=tenant, feature__isnull=False)}
    shown = universal_print_features(tenant=tenant).filter(Q(enabled=True) | Q(pk__in=list(connections)))
    for feature in shown.order_by("-enabled", "pk"):
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


def features_disabled_unused(*, tenant: Tenant) -> int:
    """How many Universal Print features are disabled and never connected (not on the page)."""
    connected = Connection.objects.filter(tenant=tenant, feature__isnull=False).values("feature_id")
    return universal_print_features(tenant=tenant).filter(enabled=False).exclude(pk__in=connected).count()


# --- health: the page and the dashboard ------------------------------------------------------------------------


def connection_health(connection: Connection) -> Health:
    """How the connection's taking of jobs is doing, in the portal's one health vocabulary."""
    feature = connection.feature
    status = connection.poll_status
    if feature is None:
        return Health.off("Not connected", "The integration that connected these printers was deleted.")
    if not feature.enabled:
        return Health.off("Off", "Universal Print is disabled on the integration.")
    if status == PollStatus.NEEDS_CONSENT:
        return Health.needs_action(
            "Needs consent",
            reason=connection.poll_error or feature.consent_reason or "The app's consent is missing.",
            fix="Grant it again with Reapply Consents on the integration; Roger then takes the waiting jobs.",
            fix_url=reverse("integrations:detail", args=[feature.integration_id]),
            fix_label="Open the integration",
        )
    if status == PollStatus.THROTTLED:
        return Health.retrying(
            cause="Microsoft asked Roger to wait before calling again (throttling).",
            since=connection.failing_since,
            next_try=connection.throttled_until,
            label="Waiting",
        )
    if status in (PollStatus.RETRYING, PollStatus.FAILED):
        return Health.retrying(
            cause=connection.poll_error, since=connection.failing_since, next_try=connection.next_attempt_at
        )
    if status == PollStatus.OK:
        return Health.ok("Taking jobs")
    if status == PollStatus.IDLE:
        return Health.off("No printer yet", "No printer sends its jobs to Roger yet.")
    return Health.working("Starting", "Roger looks at Universal Print within a minute.")


def universal_print_attention(tenant: Tenant) -> list[Health]:
    """The dashboard's items (health.attention): jobs that wait in Universal Print, changes that wait for a
    Printer Administrator, printers another application holds, and a look at the tasks failing for a day."""
    url = reverse("universal_print:page")
    items: list[Health] = []
    for connection in Connection.objects.filter(tenant=tenant).select_related("feature__app_registration"):
        items.extend(_connection_attention(connection, url))
    return [item.about("Universal Print") for item in items]


def _connection_attention(connection: Connection, url: str) -> list[Health]:
    items: list[Health] = []
    waiting = why_jobs_wait(connection)
    printers = printers_left_waiting(connection) if waiting else []
    if waiting and printers:
        names = ", ".join(p.windows_name for p in printers)
        items.append(
            Health.needs_action(
                "Jobs wait",
                reason=f"Jobs sent to {names} wait in Universal Print and are not printed, because {waiting[0]}.",
                fix=waiting[1],
                fix_url=url,
                fix_label="Open Universal Print",
            )
        )
    if connection.feature is None:
        return items
    pending = [p for p in connection.printers.all() if p.change_pending]
    if pending:
        count = len(pending)
        items.append(
            Health.needs_action(
                "Sign-in needed",
                reason=f"{count} printer change{'s wait' if count != 1 else ' waits'} for a Printer Administrator "
                "to sign in.",
                fix_url=url,
                fix_label="Open Universal Print",
                still_works=True,
            )
        )
    held = [p for p in connection.printers.all() if p.state == PrinterState.OTHER_APP and p.feeds_roger]
    if held:
        items.append(
            Health.needs_action(
                "Held by another application",
                reason=f"{', '.join(p.windows_name for p in held)} send their jobs to another application, so Roger "
                "cannot take them.",
                fix_url=url,
                fix_label="Open Universal Print",
                still_works=True,
            )
        )
    health = connection_health(connection)
    if health.state == "retrying":
        items.append(health)
    return items
