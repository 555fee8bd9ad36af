"""Administration > Universal Print: thin views; the page never waits on Microsoft beyond one call (starting the
Printer Administrator's sign-in), the rest happens in the background and the page shows its state."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import messages
from django.http import HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.permissions import tenant_admin_required
from accounts.requests import TenantRequest
from integrations.browser_flows import flow_started
from print_jobs.errors import QueueNameTaken
from print_jobs.services import queue_create
from ui.live import VERSION_PARAMETER, Live, live_response, version_of
from universal_print import selectors
from universal_print.choices import JobOutcome
from universal_print.forms import PrinterChoicesForm, QueueForm
from universal_print.models import Connection
from universal_print.services.connections import connection_wake, printer_choices_save
from universal_print.services.sign_in import printer_admin_sign_in_start

if TYPE_CHECKING:
    from accounts.models import Tenant


def _choices_form(tenant: Tenant, connection: Connection, data: QueryDict | None = None) -> PrinterChoicesForm:
    return PrinterChoicesForm(
        data,
        printers=selectors.printers_with_stats(connection),
        queues=selectors.queue_choices(tenant=tenant),
        prefix=f"c{connection.pk}",
    )


def _render_page(
    request: TenantRequest,
    *,
    invalid: PrinterChoicesForm | None = None,
    queue_form: QueueForm | None = None,
    status: int = 200,
) -> HttpResponse:
    tenant = request.tenant
    views = selectors.page_views(tenant=tenant)
    for view in views:
        if view.connection is not None:
            submitted = invalid is not None and invalid.prefix == f"c{view.connection.pk}"
            view.form = invalid if submitted else _choices_form(tenant, view.connection)
            view.status_live = _status_live(view)
    context = {
        "views": views,
        "disabled_unused": selectors.features_disabled_unused(tenant=tenant),
        "any_taking": any(printer.takes_jobs for view in views for printer in view.printers),
        "queues": selectors.queue_choices(tenant=tenant).prefetch_related("universal_print_printers"),
        "queue_form": queue_form or QueueForm(),
    }
    return render(request, "universal_print/page.html", context, status=status)


@tenant_admin_required
def page(request: TenantRequest) -> HttpResponse:
    return _render_page(request)


@tenant_admin_required
@require_POST
def printers_save(request: TenantRequest, pk: int) -> HttpResponse:
    connection = selectors.connection_get(tenant=request.tenant, pk=pk)
    form = _choices_form(request.tenant, connection, request.POST)
    if not form.is_valid():
        messages.error(request, "Nothing was saved: see the printers marked below.")
        return _render_page(request, invalid=form, status=400)
    waiting = printer_choices_save(connection=connection, choices=form.choices())
    if waiting:
        messages.success(
            request,
            f"Saved. {waiting} printer change{'s' if waiting != 1 else ''} wait{'' if waiting != 1 else 's'} for a "
            "Printer Administrator to sign in: Microsoft lets only such a person turn printers on and off.",
        )
    else:
        messages.success(request, "Saved.")
    return redirect("universal_print:page")


@tenant_admin_required
@require_POST
def sign_in(request: TenantRequest, feature_pk: int) -> HttpResponse:
    feature = get_object_or_404(selectors.universal_print_features(tenant=request.tenant), pk=feature_pk)
    return flow_started(
        request,
        lambda: printer_admin_sign_in_start(feature=feature, admin=request.user),
        back=redirect("universal_print:page"),
    )


@tenant_admin_required
@require_POST
def check_now(request: TenantRequest, pk: int) -> HttpResponse:
    connection = selectors.connection_get(tenant=request.tenant, pk=pk)
    if connection.feature is None or not connection.feature.enabled:
        messages.error(request, "Universal Print is disabled: enable it on the integration first.")
    else:
        connection_wake(connection)
        messages.success(request, "Roger is checking Universal Print for new jobs now.")
    return redirect("universal_print:page")


# Sent when what the status follows changed (a sign-in's changes, a look, jobs): the printers and jobs part of the
# page reads itself again.
CHANGED = "universal-print-changed"


@tenant_admin_required
def status(request: TenantRequest, pk: int) -> HttpResponse:
    """The live part of a connection (its last look and its sign-in), followed while something is under way."""
    connection = selectors.connection_get(tenant=request.tenant, pk=pk)
    view = selectors.connection_view(connection, recent=0)
    response = live_response(request, _status_live(view), {"view": view})
    if response.status_code != 204 and request.GET.get(VERSION_PARAMETER) is not None:
        response["HX-Trigger"] = CHANGED
    return response


def _status_live(view: selectors.ConnectionView) -> Live:
    """Followed while a sign-in is applied, a look is due (Check now) or jobs are being received; each change
    (the look, a job's state on either side) tells the printers and jobs part to read itself again."""
    connection, sign_in = view.connection, view.sign_in
    assert connection is not None
    jobs = view.jobs_shown
    looking = selectors.look_pending(connection)
    receiving = any(outcome == JobOutcome.RECEIVING for _, outcome, _ in jobs)
    shown = (
        connection.poll_status,
        connection.last_poll_at,
        connection.definition_id,
        (sign_in.pk, sign_in.status, sign_in.results, sign_in.error) if sign_in else None,
        jobs,
    )
    return Live(
        element_id=f"status-{connection.pk}",
        template="universal_print/partials/status.html",
        url=reverse("universal_print:status", args=[connection.pk]),
        version=version_of(*shown),
        final=not ((sign_in is not None and sign_in.is_open) or looking or receiving),
    )


@tenant_admin_required
@require_POST
def queue_add(request: TenantRequest) -> HttpResponse:
    form = QueueForm(request.POST)
    if form.is_valid():
        try:
            queue = queue_create(tenant=request.tenant, name=form.cleaned_data["name"], actor=request.user)
        except QueueNameTaken as exc:
            form.add_error("name", exc.message)
        else:
            messages.success(request, f"Queue “{queue.name}” added.")
            return redirect("universal_print:page")
    return _render_page(request, queue_form=form, status=400)
