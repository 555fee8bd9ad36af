"""The integrations of a Roger tenant: the list, one integration's page, Edit and Delete."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.permissions import tenant_admin_required
from integrations import selectors
from integrations.errors import IntegrationError
from integrations.forms import ManualIntegrationForm, NameForm
from integrations.legacy import selectors as legacy_selectors
from integrations.models import Integration
from integrations.services import integrations as integration_services
from integrations.services import reapply as reapply_services
from integrations.views.common import (
    admin_of,
    back_to_detail,
    graph_application_consenters,
    manual_setup_checked,
    prover_roles,
    tenant_of,
)
from ui.pagination import keyset_page


@tenant_admin_required
def integration_list(request: HttpRequest) -> HttpResponse:
    tenant = tenant_of(request)
    page = keyset_page(selectors.integration_rows(tenant=tenant), field="name", params=request.GET, descending=False)
    context = {
        "integrations": page,
        "page": page,
        "problems": selectors.integration_problems(tenant=tenant),
        "warn_days": settings.INTEGRATIONS_SECRET_EXPIRY_WARNING_DAYS,
    }
    return render(request, "integrations/integration_list.html", context)


@tenant_admin_required
def integration_detail(request: HttpRequest, pk: int) -> HttpResponse:
    tenant = tenant_of(request)
    integration = selectors.integration_detail_get(tenant=tenant, pk=pk)
    run = reapply_services.reapply_latest(integration)
    apps = list(integration.app_registrations.all())
    features = list(integration.features.all())
    context = {
        "integration": integration,
        "features": selectors.feature_rows(integration),
        "app": apps[0] if apps else None,
        "apps": apps,
        "problems": selectors.integration_problems(tenant=tenant, integration=integration),
        "run": run,
        "run_next": reapply_services.reapply_next_feature(run, features) if run is not None else None,
        "reapply_apps": reapply_services.reapply_apps(integration, features),
        "switch": legacy_selectors.legacy_switch_latest(integration),
        "legacy_scopes": legacy_selectors.legacy_scopes() if integration.is_legacy else [],
        "graph_application_consenters": graph_application_consenters(),
        "prover_roles": prover_roles(),
    }
    return render(request, "integrations/integration_detail.html", context)


def _edit_context(integration: Integration, form: Any, impact: Any = None) -> dict[str, Any]:
    return {
        "integration": integration,
        "form": form,
        "impact": impact,
        "current": integration_services.integration_delete_impact(integration=integration),
    }


@tenant_admin_required
def integration_edit(request: HttpRequest, pk: int) -> HttpResponse:
    integration = selectors.integration_get(tenant=tenant_of(request), pk=pk)
    if integration.is_automatic:
        return _edit_automatic(request, integration)
    return _edit_manual(request, integration)


def _edit_automatic(request: HttpRequest, integration: Integration) -> HttpResponse:
    form = NameForm(request.POST or None, initial={"name": integration.name})
    if request.method == "POST" and form.is_valid():
        try:
            integration_services.integration_rename(integration=integration, name=form.cleaned_data["name"])
        except IntegrationError as exc:
            form.add_error("name", exc.message)
        else:
            messages.success(request, "Integration saved.")
            return back_to_detail(integration)
    return render(request, "integrations/edit.html", _edit_context(integration, form))


def _edit_manual(request: HttpRequest, integration: Integration) -> HttpResponse:
    app = selectors.manual_app_get(integration)
    initial = {
        "name": integration.name,
        "directory": integration.directory_domain or integration.directory_id,
        "application_id": app.client_id,
        "secret_expires_on": app.secret_expires_on,
    }
    form = ManualIntegrationForm(
        request.POST or None,
        initial=initial,
        has_stored_secret=bool(app.client_secret),
        stored_application_id=app.client_id,
    )
    impact = None
    if request.method == "POST" and form.is_valid():
        same_app = form.cleaned_data["application_id"] == app.client_id.lower()
        checked = manual_setup_checked(form, stored_secret=app.client_secret if same_app else "")
        if checked is not None:
            impact = integration_services.integration_change_impact(
                integration=integration,
                directory_id=checked.directory_id,
                application_id=form.cleaned_data["application_id"],
            )
            if not impact.needs_confirmation or request.POST.get("confirm") == "1":
                return _save_manual(request, integration, form, checked) or render(
                    request, "integrations/edit.html", _edit_context(integration, form, impact)
                )
            form.add_error(None, "This change affects the features listed below. Check the box to confirm it.")
    return render(request, "integrations/edit.html", _edit_context(integration, form, impact))


def _save_manual(
    request: HttpRequest,
    integration: Integration,
    form: ManualIntegrationForm,
    checked: integration_services.CheckedSetup,
) -> HttpResponse | None:
    try:
        update = integration_services.integration_update_manual(
            integration=integration,
            actor=admin_of(request),
            checked=checked,
        )
    except IntegrationError as exc:
        form.add_error(None, exc.message)
        return None
    if update.left_legacy is not None:
        messages.success(request, "Integration saved: it no longer uses the legacy application.")
        return redirect("integrations:legacy_switch", pk=integration.pk, switch_pk=update.left_legacy.pk)
    messages.success(request, "Integration saved.")
    return back_to_detail(integration)


@tenant_admin_required
def integration_delete(request: HttpRequest, pk: int) -> HttpResponse:
    integration = selectors.integration_get(tenant=tenant_of(request), pk=pk)
    if request.method == "POST":
        name = integration.name
        left_behind = integration_services.integration_delete(integration=integration)
        messages.success(request, f"Integration “{name}” deleted.")
        for warning in left_behind:
            messages.warning(request, warning)
        return redirect("integrations:list")
    impact = integration_services.integration_delete_impact(integration=integration)
    return render(request, "integrations/delete.html", {"integration": integration, "impact": impact})
