"""Settings > External Systems. Views scope to the tenant, validate, call one service and render.

No view talks to Microsoft: connecting runs in Celery, and the pop-up (an htmx fragment in the base template's
<dialog id="modal">) is a live fragment (ui.live): it re-reads the connection every two seconds while it waits.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.permissions import tenant_admin_required
from accounts.requests import TenantRequest
from external_systems import selectors, services
from external_systems.forms import EditSystemForm, EmailCodeForm, SystemForm
from external_systems.models import DeviceCodeConnection, ExternalSystem
from external_systems.types import system_type, system_types
from external_systems.usage import system_usages
from throttling.clients import client_address
from throttling.services import Throttled
from ui.live import Live, live_response
from ui.pagination import keyset_page

POPUP_TEMPLATE = "external_systems/partials/connection_popup.html"


def _system(request: TenantRequest, pk: int) -> ExternalSystem:
    try:
        return selectors.system_get(tenant=request.tenant, pk=pk)
    except ExternalSystem.DoesNotExist as exc:
        raise Http404("No such external system.") from exc


def _connection(request: TenantRequest, pk: int) -> DeviceCodeConnection:
    try:
        return selectors.connection_get(tenant=request.tenant, pk=pk)
    except DeviceCodeConnection.DoesNotExist as exc:
        raise Http404("No such connection.") from exc


def _connection_url(connection: DeviceCodeConnection) -> str:
    return f"{reverse('external_systems:list')}?connection={connection.pk}"


@tenant_admin_required
def system_list(request: TenantRequest) -> HttpResponse:
    open_connection = None
    requested = request.GET.get("connection", "")
    if requested.isdigit():
        open_connection = _connection(request, int(requested))
    page = keyset_page(
        selectors.system_list(tenant=request.tenant), field="title", params=request.GET, descending=False
    )
    context = {
        "overviews": selectors.system_overviews(tenant=request.tenant, systems=page),
        "page": page,
        "types": system_types(),
        "open_connection": open_connection,
    }
    return render(request, "external_systems/system_list.html", context)


@tenant_admin_required
def system_add(request: TenantRequest, type_key: str) -> HttpResponse:
    kind = system_type(type_key)
    if kind is None:
        raise Http404("No such external system type.")
    form = SystemForm(request.POST or None, tenant=request.tenant)
    if request.method == "POST" and form.is_valid():
        system = services.system_create(
            tenant=request.tenant,
            actor=request.user,
            system_type_key=kind.key,
            title=form.cleaned_data["title"],
            client_id=form.cleaned_data["client_id"],
            directory_input=form.cleaned_data["tenant_id"],
        )
        connection = services.connection_start(
            system=system,
            actor=request.user,
        )
        return redirect(_connection_url(connection))
    return render(request, "external_systems/system_add.html", {"form": form, "kind": kind})


@tenant_admin_required
def system_detail(request: TenantRequest, pk: int) -> HttpResponse:
    system = _system(request, pk)
    form = EditSystemForm(request.POST or None, tenant=request.tenant, system=system)
    changes: list[str] = []
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        changes = services.system_identity_changes(
            system=system, client_id=data["client_id"], directory_input=data["tenant_id"]
        )
        if not changes or data["confirm_new_connection"]:
            return _save_edit(request, system, data)
        # Say what the change means; the same form, submitted again, is the admin's confirmation.
        confirmed = request.POST.copy()
        confirmed["confirm_new_connection"] = "on"
        form = EditSystemForm(confirmed, tenant=request.tenant, system=system)
        form.is_valid()
    context: dict[str, Any] = {
        "system": system,
        "overview": selectors.system_overview(system=system),
        "kind": system_type(system.system_type),
        "form": form,
        "changes": changes,
    }
    return render(request, "external_systems/system_detail.html", context)


def _save_edit(request: TenantRequest, system: ExternalSystem, data: dict[str, Any]) -> HttpResponse:
    update = services.system_update(
        system=system,
        actor=request.user,
        title=data["title"],
        client_id=data["client_id"],
        directory_input=data["tenant_id"],
    )
    if update.needs_new_connection:
        connection = services.connection_start(
            system=update.system,
            actor=request.user,
        )
        return redirect(_connection_url(connection))
    messages.success(request, f"{update.system.title} is saved.")
    return redirect("external_systems:list")


@tenant_admin_required
@require_POST
def system_reconnect(request: TenantRequest, pk: int) -> HttpResponse:
    system = _system(request, pk)
    connection = services.connection_start(
        system=system,
        actor=request.user,
    )
    if request.htmx:
        return _popup(request, connection)
    return redirect(_connection_url(connection))


@tenant_admin_required
def system_delete(request: TenantRequest, pk: int) -> HttpResponse:
    system = _system(request, pk)
    if request.method == "POST":
        title = system.title
        services.system_delete(
            system=system,
            actor=request.user,
        )
        messages.success(request, f"{title} is deleted.")
        return redirect("external_systems:list")
    context = {"system": system, "usages": system_usages(system)}
    return render(request, "external_systems/system_delete.html", context)


# --- The connection pop-up --------------------------------------------------------------------------------


def _popup_live(connection: DeviceCodeConnection) -> Live:
    """The pop-up follows its connection while Roger waits for Microsoft or for the sign-in."""
    return Live(
        element_id="connection-popup",
        template=POPUP_TEMPLATE,
        url=reverse("external_systems:connection", args=[connection.pk]),
        version=connection.popup_version,
        final=not connection.is_waiting,
    )


def _popup(
    request: TenantRequest,
    connection: DeviceCodeConnection,
    email_form: EmailCodeForm | None = None,
    note: str = "",
    throttled: Throttled | None = None,
) -> HttpResponse:
    live = _popup_live(connection)
    context = {
        "connection": connection,
        "system": connection.system,
        "email_form": email_form or EmailCodeForm(),
        "note": note,
        "throttled": throttled,
        "live": live,
    }
    if not request.htmx:
        status = 429 if throttled else 200
        return render(request, "external_systems/connection_page.html", context, status=status)
    # htmx swaps only 2xx answers: a reached limit is shown in the pop-up with a 200.
    response = live_response(request, live, context)
    if response.status_code != 204:
        response["HX-Trigger"] = "connection-changed"  # the list behind the pop-up re-reads its rows
    return response


@tenant_admin_required
def connection_popup(request: TenantRequest, pk: int) -> HttpResponse:
    return _popup(request, _connection(request, pk))


@tenant_admin_required
@require_POST
def connection_cancel(request: TenantRequest, pk: int) -> HttpResponse:
    connection = services.connection_cancel(connection=_connection(request, pk))
    return _popup(request, connection)


@tenant_admin_required
@require_POST
def connection_restart(request: TenantRequest, pk: int) -> HttpResponse:
    previous = _connection(request, pk)
    connection = services.connection_start(
        system=previous.system,
        actor=request.user,
    )
    return _popup(request, connection)


@tenant_admin_required
@require_POST
def connection_email(request: TenantRequest, pk: int) -> HttpResponse:
    connection = _connection(request, pk)
    form = EmailCodeForm(request.POST)
    if not connection.is_waiting or not form.is_valid():
        return _popup(request, connection, email_form=form)
    recipient = form.cleaned_data["recipient"]
    try:
        services.connection_code_email(
            connection=connection,
            recipient=recipient,
            client=client_address(request),
        )
    except Throttled as exc:
        return _popup(request, connection, email_form=form, throttled=exc)
    connection.refresh_from_db()
    return _popup(request, connection, note=f"The code and the link are on their way to {recipient}.")


@tenant_admin_required
@require_POST
def connection_switch(request: TenantRequest, pk: int) -> HttpResponse:
    connection = _connection(request, pk)
    if request.POST.get("decision") == "switch":
        connection = services.connection_switch_confirm(connection=connection, actor=request.user)
    else:
        connection = services.connection_switch_reject(connection=connection)
    return _popup(request, connection)
