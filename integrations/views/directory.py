"""Select tenant and Prove directory: an administrator of the Microsoft directory signs in, which binds it."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from accounts.permissions import tenant_admin_required
from integrations import selectors
from integrations.binding import FlowStart
from integrations.browser_flows import flow_started
from integrations.services import directory_proof as proof_services
from integrations.views.common import admin_of, back_to_detail, tenant_of


def _sign_in(request: HttpRequest, pk: int, start: Callable[..., FlowStart]) -> HttpResponse:
    """To Microsoft, where an administrator of the integration's directory signs in."""
    integration = selectors.integration_get(tenant=tenant_of(request), pk=pk)
    admin = admin_of(request)
    return flow_started(request, lambda: start(integration=integration, admin=admin), back=back_to_detail(integration))


@tenant_admin_required
@require_POST
def select_tenant(request: HttpRequest, pk: int) -> HttpResponse:
    return _sign_in(request, pk, proof_services.select_tenant_start)


@tenant_admin_required
@require_POST
def prove_directory(request: HttpRequest, pk: int) -> HttpResponse:
    return _sign_in(request, pk, proof_services.directory_proof_start)
