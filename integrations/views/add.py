"""Add Integration: the provider, the mode, Create automatically, Set up manually, and the set-up guide."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import tenant_admin_required, tenant_member_required
from integrations.errors import IntegrationError
from integrations.features import DIRECTORY_ROLE_CLAIMS, FEATURES, SIGN_IN_SCOPES, manifest_snippet
from integrations.forms import ManualIntegrationForm, NameForm
from integrations.legacy import selectors as legacy_selectors
from integrations.operator_apps import operator_app_name
from integrations.services import integrations as integration_services
from integrations.views.common import (
    admin_of,
    back_to_detail,
    graph_application_consenters,
    manual_setup_checked,
    prover_roles,
    redirect_uris,
    tenant_of,
)

COMING_LATER = ("Google Workspace", "Okta")


def _operator_apps() -> list[dict[str, str]]:
    return [{"feature": spec.label, "app": operator_app_name(spec.operator_app)} for spec in FEATURES.values()]


@tenant_admin_required
def integration_add(request: HttpRequest) -> HttpResponse:
    return render(request, "integrations/add_provider.html", {"coming_later": COMING_LATER})


@tenant_admin_required
def integration_add_microsoft(request: HttpRequest) -> HttpResponse:
    return render(request, "integrations/add_mode.html", {"operator_apps": _operator_apps()})


@tenant_admin_required
def integration_add_automatic(request: HttpRequest) -> HttpResponse:
    form = NameForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            integration = integration_services.integration_create_automatic(
                tenant=tenant_of(request),
                actor=admin_of(request),
                name=form.cleaned_data["name"],
            )
        except IntegrationError as exc:
            form.add_error("name", exc.message)
        else:
            messages.success(request, "Integration saved. Now click Select tenant and sign in as an administrator.")
            return back_to_detail(integration)
    return render(request, "integrations/add_automatic.html", {"form": form, "operator_apps": _operator_apps()})


@tenant_admin_required
def integration_add_manual(request: HttpRequest) -> HttpResponse:
    tenant = tenant_of(request)
    legacy_id = legacy_selectors.legacy_application_id_for(tenant=tenant)
    form = ManualIntegrationForm(request.POST or None, initial={"application_id": legacy_id or ""})
    if request.method == "POST" and form.is_valid() and (checked := manual_setup_checked(form)) is not None:
        try:
            integration = integration_services.integration_create_manual(
                tenant=tenant,
                actor=admin_of(request),
                checked=checked,
            )
        except IntegrationError as exc:
            form.add_error("name", exc.message)
        else:
            if integration.needs_directory_proof:
                messages.success(
                    request,
                    "Integration saved. Next, prove the directory: click Prove directory and sign in with an "
                    "administrator of it. Every feature stays disabled until then.",
                )
            else:
                messages.success(
                    request, "Integration saved. Every feature is disabled: grant consent and enable them."
                )
            return back_to_detail(integration)
    return render(
        request,
        "integrations/add_manual.html",
        {"form": form, "legacy_id": legacy_id, "redirect_uris": redirect_uris()},
    )


@tenant_member_required
def setup_guide(request: HttpRequest) -> HttpResponse:
    guides = [
        {"spec": spec, "manifest": manifest_snippet(spec), "sign_in": SIGN_IN_SCOPES if spec.delegated else ()}
        for spec in FEATURES.values()
    ]
    context = {
        "guides": guides,
        "redirect_uris": redirect_uris(),
        "login_app": operator_app_name("LOGIN"),
        "legacy_app": operator_app_name("LEGACY"),
        "role_claims": DIRECTORY_ROLE_CLAIMS,
        "prover_roles": prover_roles(),
        "graph_application_consenters": graph_application_consenters(),
    }
    return render(request, "integrations/setup_guide.html", context)
